// The subscriber (vmcatcher) repository, composed of one module per aggregate: endorsers, links, subscriptions
// with their credentials, image lists, images, failed events, run history.
import type { SubscriberRepository } from '../api.js';
import type { RepoContext } from '../context.js';
import { guard } from '../guard.js';
import { createEndorsers, type EndorserInternals } from './endorsers.js';
import { createFailedEvents } from './failed-events.js';
import { createImageLists, type ImageListInternals } from './image-lists.js';
import { createImages, type ImageInternals } from './images.js';
import { createLinks, type LinkInternals } from './links.js';
import { createRuns } from './runs.js';
import { createSubscriptions, type SubscriptionInternals } from './subscriptions.js';

/** What the legacy importers write through, besides the public methods. */
export interface SubscriberInternals
  extends EndorserInternals,
    LinkInternals,
    SubscriptionInternals,
    ImageListInternals,
    ImageInternals {
  /** Removes every endorser and subscription (with their principals, links, lists and images). */
  clearAll(): Promise<void>;
  /** Whether any endorser or subscription exists. */
  hasData(): Promise<boolean>;
}

function parts(ctx: RepoContext) {
  return {
    endorsers: createEndorsers(ctx),
    links: createLinks(ctx),
    subscriptions: createSubscriptions(ctx),
    imageLists: createImageLists(ctx),
    images: createImages(ctx),
    failedEvents: createFailedEvents(ctx),
    runs: createRuns(ctx),
  };
}

export function createSubscriberRepository(ctx: RepoContext): SubscriberRepository {
  const p = parts(ctx);
  const repo: SubscriberRepository = {
    listEndorsers: p.endorsers.listEndorsers,
    getEndorser: p.endorsers.getEndorser,
    createEndorser: p.endorsers.createEndorser,
    deleteEndorser: p.endorsers.deleteEndorser,
    findEndorserByPrincipal: p.endorsers.findEndorserByPrincipal,
    listLinks: p.links.listLinks,
    link: p.links.link,
    unlink: p.links.unlink,
    isAuthorised: p.links.isAuthorised,
    listSubscriptions: p.subscriptions.listSubscriptions,
    getSubscription: p.subscriptions.getSubscription,
    getSubscriptionByUri: p.subscriptions.getSubscriptionByUri,
    createSubscription: p.subscriptions.createSubscription,
    updateSubscription: p.subscriptions.updateSubscription,
    setCredentials: p.subscriptions.setCredentials,
    getCredentials: p.subscriptions.getCredentials,
    deleteSubscription: p.subscriptions.deleteSubscription,
    getLatestImageList: p.imageLists.getLatestImageList,
    recordImageList: p.imageLists.recordImageList,
    markImageListExpired: p.imageLists.markImageListExpired,
    withdrawImageList: p.imageLists.withdrawImageList,
    listImages: p.images.listImages,
    getImages: p.images.getImages,
    findImagesBySha512: p.images.findImagesBySha512,
    setImageCache: p.images.setImageCache,
    acceptImage: p.images.acceptImage,
    refuseImage: p.images.refuseImage,
    listCacheCandidates: p.images.listCacheCandidates,
    recordFailedEvent: p.failedEvents.recordFailedEvent,
    listFailedEvents: p.failedEvents.listFailedEvents,
    deleteFailedEvent: p.failedEvents.deleteFailedEvent,
    bumpFailedEvent: p.failedEvents.bumpFailedEvent,
    markFailedEventDead: p.failedEvents.markFailedEventDead,
    recordUpdateAttempt: p.runs.recordUpdateAttempt,
    beginRun: p.runs.beginRun,
    listRuns: p.runs.listRuns,
    getRun: p.runs.getRun,
    runTotals: p.runs.runTotals,
  };
  return guard('subscriber', repo, ctx.dialect.url);
}

export function createSubscriberInternals(ctx: RepoContext): SubscriberInternals {
  const p = parts(ctx);
  return {
    insertEndorser: p.endorsers.insertEndorser,
    endorserId: p.endorsers.endorserId,
    putLink: p.links.putLink,
    insertSubscription: p.subscriptions.insertSubscription,
    setLatestList: p.subscriptions.setLatestList,
    insertImageList: p.imageLists.insertImageList,
    insertDefinitions: p.images.insertDefinitions,
    definitionIds: p.images.definitionIds,
    insertInstances: p.images.insertInstances,
    setLatestInstances: p.images.setLatestInstances,
    async clearAll() {
      // Cascades remove principals, credentials, links, lists, definitions and instances.
      await ctx.q.deleteFrom('sub_subscription').execute();
      await ctx.q.deleteFrom('sub_endorser').execute();
    },
    async hasData() {
      for (const table of ['sub_endorser', 'sub_subscription'] as const) {
        if (await ctx.q.selectFrom(table).select('id').limit(1).executeTakeFirst()) return true;
      }
      return false;
    },
  };
}
