// Subscribing to signed image lists and updating them: the library behind `vmcatcher_subscribe -s/-U`.
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '@hepix/common';
import type {
  Principal,
  Store,
  StoredImageList,
  Subscription,
  TrustAnchorMode,
  UpdateMode,
} from '@hepix/imagelist-store';
import { TrustStore } from '@hepix/smime-x509';
import { ListFetcher, type ListFetcherOptions, parseListUrl, redactUrl } from '../fetch/fetch.js';
import { type CrlPolicy, checkDates, imageInstances, verifyImageList, versionOrder } from './check.js';
import { SubscriptionError, worstStatus } from './errors.js';

export type SubscriptionLogger = Logger;

/** Delivered once per image the first time it appears in a subscription's list without being registered. */
export interface NewImageEvent {
  subscription: Subscription;
  /** The image's `hv:image` object as published. */
  image: Record<string, unknown>;
  /** The list-level keys of the list it came in (without `hv:images`). */
  imageList: Record<string, unknown>;
  /** True when the update mode registered it; false when it was refused (mode 0). */
  accepted: boolean;
}

export interface SubscriptionsOptions {
  store: Store;
  /** Grid CA directory: S/MIME trust anchors, and TLS roots for subscriptions with trust anchor `igtf`. */
  certDir?: string;
  /** A trust store already loaded (otherwise loaded from certDir on first use). */
  trust?: TrustStore;
  /** CRL policy for signature checks (default `require`: a current CRL of every CA in the chain). */
  crl?: CrlPolicy;
  now?: () => Date;
  log?: SubscriptionLogger;
  /** Transport options (timeouts, proxies from `env`, size limit). */
  fetch?: Omit<ListFetcherOptions, 'certDir' | 'log'>;
  /** Awaited after the list is stored; failures are logged and do not fail the update. */
  onNewImage?: (event: NewImageEvent) => Promise<void>;
  /** How long `update` waits for another process's update to finish (default 10 minutes). */
  lockWaitMs?: number;
}

export interface SubscribeOptions {
  /** Create the endorser from the signed list when it is unknown (logs a warning). */
  autoEndorse?: boolean;
  updateMode?: UpdateMode;
  /** TLS server authentication for the list URL (default `browser`: system roots). */
  trustAnchor?: TrustAnchorMode;
  /** Basic-auth credentials; override any `user:pass@` in the URL. Stored apart from the URL. */
  credentials?: { username?: string; password?: string };
}

export interface SubscribeResult {
  subscription: Subscription;
  /** Identifier of the endorser linked to the subscription. */
  endorser: string;
  autoEndorsed: boolean;
  /** Image identifiers registered (cache 1 when the update mode is 3). */
  images: string[];
  warnings: string[];
}

export interface UpdateSelection {
  /** Subscription identifiers. */
  identifiers?: string[];
  /** Subscription URIs (exact strings). */
  uris?: string[];
}

export interface UpdateOptions {
  /** Subscriptions fetched and verified at once (default 8). */
  concurrency?: number;
  /** Import the list even when its bytes equal the stored ones (after an update-mode change). */
  force?: boolean;
}

export type UpdateOutcome = 'updated' | 'unchanged' | 'rejected';

export interface SubscriptionUpdateResult {
  subscription: string;
  uri: string;
  /** 0, 32 (new images refused; list imported) or the status of `error`. */
  status: number;
  outcome: UpdateOutcome;
  error?: SubscriptionError;
  /** Set when a new list instance was stored. */
  imageListId?: number;
  version?: string;
  accepted: string[];
  refused: string[];
  warnings: string[];
  /** The stored list was marked expired during this update. */
  markedExpired: boolean;
}

export interface UpdateResult {
  /** The worst per-subscription status (rejections outrank 32). */
  status: number;
  results: SubscriptionUpdateResult[];
}

export interface Subscriptions {
  subscribe(url: string, options?: SubscribeOptions): Promise<SubscribeResult>;
  /** Updates the selected subscriptions (all when no selection) under the store lock
   * `vmcatcher-subscribe-update`. Never throws for a bad list: see the per-subscription results. */
  update(selection?: UpdateSelection, options?: UpdateOptions): Promise<UpdateResult>;
  /** Resolves a selection to subscriptions; `ERR_SUB_NOT_FOUND` for an unknown identifier or URI. */
  select(selection?: UpdateSelection): Promise<Subscription[]>;
  /** Re-verifies the stored signed list of a subscription and returns the signed content. */
  verifiedMessage(
    subscription: string,
  ): Promise<{ content: Uint8Array; signer: Principal; list: StoredImageList }>;
  close(): Promise<void>;
}

const LOCK_NAME = 'vmcatcher-subscribe-update';

function sha512Hex(data: Uint8Array): string {
  return createHash('sha512').update(data).digest('hex');
}

async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

export function createSubscriptions(options: SubscriptionsOptions): Subscriptions {
  const { store } = options;
  const now = options.now ?? (() => new Date());
  const log: SubscriptionLogger = options.log ?? (() => {});
  const crl = options.crl ?? 'require';
  const fetcher = new ListFetcher({ ...options.fetch, certDir: options.certDir, log });
  let trustPromise: Promise<TrustStore> | undefined = options.trust
    ? Promise.resolve(options.trust)
    : undefined;

  function trust(): Promise<TrustStore> {
    if (!trustPromise) {
      if (!options.certDir) {
        return Promise.reject(
          new SubscriptionError('ERR_SUB_NO_TRUST_ANCHOR', 'No trust anchor: set a certificate directory'),
        );
      }
      const dir = options.certDir;
      trustPromise = TrustStore.fromDirectory(dir).catch((cause: unknown) => {
        trustPromise = undefined;
        throw new SubscriptionError('ERR_SUB_NO_TRUST_ANCHOR', `Cannot load the trust anchors in '${dir}'`, {
          cause,
        });
      });
    }
    return trustPromise as Promise<TrustStore>;
  }

  async function subscribe(url: string, opts: SubscribeOptions = {}): Promise<SubscribeResult> {
    const parsed = parseListUrl(url);
    const credentials = {
      username: opts.credentials?.username ?? parsed.username,
      password: opts.credentials?.password ?? parsed.password,
    };
    const trustAnchor = opts.trustAnchor ?? 'browser';
    const warnings: string[] = [];
    const warn = (m: string) => {
      warnings.push(m);
      log('warn', m);
    };
    const anchors = await trust();
    const fetched = await fetcher.fetch(parsed.url, { trustAnchor, credentials });
    const at = now();
    const v = await verifyImageList(fetched.data, { trust: anchors, at, crl });
    for (const w of v.warnings) log('debug', `${v.identifier}: ${w}`);
    checkDates(v, at);
    if (!v.identifier)
      throw new SubscriptionError('ERR_SUB_IDENTIFIER', 'The list has an empty dc:identifier');
    if (v.uri !== parsed.url) warn('list hv:uri does not match subscription uri');

    let endorser = await store.subscriber.findEndorserByPrincipal(v.signer);
    let autoEndorsed = false;
    if (!endorser) {
      if (!opts.autoEndorse) {
        throw new SubscriptionError(
          'ERR_SUB_NOT_AUTHORISED',
          `Endorser '${v.signer.subject}' issued by '${v.signer.issuer}' is not known; create it with vmcatcher_endorser --create or use --auto-endorse`,
          { subscription: v.identifier, url: parsed.url },
        );
      }
      warn(`Auto-endorsing '${v.signer.subject}' issued by '${v.signer.issuer}'`);
      endorser = await store.subscriber.createEndorser(randomUUID(), [v.signer]);
      autoEndorsed = true;
    }
    if (await store.subscriber.getSubscription(v.identifier)) {
      throw new SubscriptionError('ERR_SUB_CONFLICT', `Already subscribed to image list '${v.identifier}'`, {
        subscription: v.identifier,
        url: parsed.url,
      });
    }
    if (await store.subscriber.getSubscriptionByUri(parsed.url)) {
      throw new SubscriptionError('ERR_SUB_CONFLICT', `A subscription to '${parsed.url}' already exists`, {
        subscription: v.identifier,
        url: parsed.url,
      });
    }
    const updateMode = opts.updateMode ?? 0;
    const images = imageInstances(v, warn).map((i) => ({
      identifier: i.identifier,
      cache: updateMode === 3,
    }));
    const creds: { username?: string; password?: string } = {};
    if (credentials.username !== undefined) creds.username = credentials.username;
    if (credentials.password !== undefined) creds.password = credentials.password;
    const subscription = await store.subscriber.createSubscription({
      identifier: v.identifier,
      description: typeof v.list['dc:description'] === 'string' ? (v.list['dc:description'] as string) : '',
      uri: parsed.url,
      trustAnchor,
      updateMode,
      credentials: creds,
      endorser: endorser.identifier,
      images,
    });
    log('info', `Subscribed to '${v.identifier}' at '${parsed.url}'`);
    return {
      subscription,
      endorser: endorser.identifier,
      autoEndorsed,
      images: images.map((i) => i.identifier),
      warnings,
    };
  }

  async function select(selection: UpdateSelection = {}): Promise<Subscription[]> {
    const ids = selection.identifiers ?? [];
    const uris = selection.uris ?? [];
    if (ids.length && uris.length) {
      throw new SubscriptionError('ERR_SUB_INVALID_ARGUMENT', 'Conflicting selectors.');
    }
    if (!ids.length && !uris.length) return store.subscriber.listSubscriptions();
    const out: Subscription[] = [];
    for (const id of ids) {
      const s = await store.subscriber.getSubscription(id);
      if (!s)
        throw new SubscriptionError('ERR_SUB_NOT_FOUND', `No subscription '${id}'`, { subscription: id });
      out.push(s);
    }
    for (const uri of uris) {
      const s = await store.subscriber.getSubscriptionByUri(uri);
      if (!s)
        throw new SubscriptionError('ERR_SUB_NOT_FOUND', `No subscription with URI '${uri}'`, { url: uri });
      out.push(s);
    }
    return out;
  }

  /** Image identifiers of a stored list, from its signed content (it was verified when stored). */
  async function previousImageIds(stored: StoredImageList | undefined): Promise<Set<string>> {
    if (!stored) return new Set();
    try {
      const v = await verifyImageList(stored.data, {
        trust: await trust(),
        at: stored.imported,
        crl: 'ignore',
      });
      return new Set(v.images.map((i) => String(i['dc:identifier'] ?? '')));
    } catch {
      return new Set();
    }
  }

  async function markExpiredIfDue(
    stored: StoredImageList | undefined,
    at: Date,
    reason: string,
    result: SubscriptionUpdateResult,
  ): Promise<void> {
    if (!stored || stored.expired) return;
    await store.subscriber.markImageListExpired(stored.id, at);
    result.markedExpired = true;
    log('warn', `Image list of subscription '${result.subscription}' marked expired: ${reason}`);
  }

  async function updateOne(sub: Subscription, opts: UpdateOptions): Promise<SubscriptionUpdateResult> {
    const result: SubscriptionUpdateResult = {
      subscription: sub.identifier,
      uri: sub.uri,
      status: 0,
      outcome: 'unchanged',
      accepted: [],
      refused: [],
      warnings: [],
      markedExpired: false,
    };
    const warn = (m: string) => {
      result.warnings.push(m);
      log('warn', m);
    };
    log('info', `Updating:${sub.identifier}`);
    let stored: StoredImageList | undefined;
    try {
      stored = await store.subscriber.getLatestImageList(sub.identifier);
      const credentials = await store.subscriber.getCredentials(sub.identifier);
      const anchors = await trust();
      let fetched: Awaited<ReturnType<ListFetcher['fetch']>>;
      try {
        fetched = await fetcher.fetch(sub.uri, { trustAnchor: sub.trustAnchor, credentials });
      } catch (err) {
        if (err instanceof SubscriptionError)
          throw new SubscriptionError(err.code, err.message, {
            ...ctxOf(err),
            subscription: sub.identifier,
            cause: err.cause ?? err,
          });
        throw err;
      }
      const at = now();
      const dataHash = sha512Hex(fetched.data);
      const v = await verifyImageList(fetched.data, {
        trust: anchors,
        at,
        crl,
        subscription: sub.identifier,
      });
      if (v.uri !== sub.uri) {
        warn(
          `list hv:uri does not match subscription uri ('${redactUrl(v.uri)}' in the list, '${sub.uri}' subscribed; the subscription is not moved)`,
        );
      }
      if (v.identifier !== sub.identifier) {
        throw new SubscriptionError(
          'ERR_SUB_IDENTIFIER',
          `The list's dc:identifier '${v.identifier}' does not match the subscription '${sub.identifier}'`,
          { subscription: sub.identifier },
        );
      }
      try {
        checkDates(v, at, sub.identifier);
      } catch (err) {
        // An authentic, authorised list that says it has expired also retires what we hold, when it is not
        // older than it (fix of the original, which left expired lists' images available forever).
        if (
          err instanceof SubscriptionError &&
          err.code === 'ERR_SUB_EXPIRED' &&
          stored &&
          (await store.subscriber.isAuthorised(sub.identifier, v.signer)) &&
          versionOrder(v.version, stored.version) >= 0
        ) {
          await markExpiredIfDue(stored, at, 'the published list has expired', result);
        }
        throw err;
      }
      if (!(await store.subscriber.isAuthorised(sub.identifier, v.signer))) {
        throw new SubscriptionError(
          'ERR_SUB_NOT_AUTHORISED',
          `Endorser '${v.signer.subject}' issued by '${v.signer.issuer}' is not authorised on subscription '${sub.identifier}'`,
          { subscription: sub.identifier },
        );
      }
      if (stored && stored.dataHash === dataHash && !opts.force) {
        log('debug', `Subscription '${sub.identifier}' unchanged`);
        result.version = stored.version;
        return result;
      }
      if (stored && stored.dataHash !== dataHash) {
        const order = versionOrder(v.version, stored.version);
        if (order < 0) {
          throw new SubscriptionError(
            'ERR_SUB_LOWER_VERSION',
            `Image list '${sub.identifier}' has a lower version number (${v.version}) than the stored one (${stored.version})`,
            { subscription: sub.identifier },
          );
        }
        if (v.created.getTime() < stored.created.getTime()) {
          throw new SubscriptionError(
            'ERR_SUB_ROLLBACK',
            `Image list '${sub.identifier}' was created (${v.created.toISOString()}) before the stored one (${stored.created.toISOString()}): rollback refused`,
            { subscription: sub.identifier },
          );
        }
        if (order === 0) warn(`Image list '${sub.identifier}' changed without a new version (${v.version})`);
      }
      const images = imageInstances(v, warn);
      const metadata: Record<string, unknown> = { ...v.list };
      delete metadata['hv:images'];
      const recorded = await store.subscriber.recordImageList(sub.identifier, {
        data: fetched.data,
        dataHash,
        created: v.created,
        expires: v.expires,
        version: v.version,
        signer: v.signer,
        metadata,
        images,
      });
      result.outcome = 'updated';
      result.imageListId = recorded.imageListId;
      result.version = v.version;
      result.accepted = recorded.accepted;
      // Refused images are reported (and announced) once: when they first appear, not on every update.
      const before = recorded.refused.length ? await previousImageIds(stored) : new Set<string>();
      result.refused = recorded.refused.filter((id) => !before.has(id));
      if (result.refused.length) {
        result.status = 32;
        warn(`Subscription '${sub.identifier}' refused new image(s): ${result.refused.join(', ')}`);
      }
      if (options.onNewImage) {
        const byId = new Map(images.map((i) => [i.identifier, i.image]));
        const fresh = [
          ...result.accepted.map((id) => ({ id, accepted: true })),
          ...result.refused.map((id) => ({ id, accepted: false })),
        ];
        for (const { id, accepted } of fresh) {
          const image = byId.get(id);
          if (!image) continue;
          try {
            await options.onNewImage({ subscription: sub, image, imageList: metadata, accepted });
          } catch (err) {
            warn(`SubscriptionImageNew handler failed for image '${id}': ${(err as Error).message}`);
          }
        }
      }
      return result;
    } catch (err) {
      const e =
        err instanceof SubscriptionError
          ? err
          : new SubscriptionError(
              'ERR_SUB_CONFLICT',
              `Update of '${sub.identifier}' failed: ${(err as Error).message}`,
              {
                subscription: sub.identifier,
                cause: err,
              },
            );
      result.status = e.status;
      result.error = e;
      result.outcome = 'rejected';
      log('error', e.message);
      return result;
    } finally {
      // Whatever the fetch gave, a stored list past its own expiry no longer makes its images available.
      try {
        const latest = result.outcome === 'updated' ? undefined : stored;
        if (latest && !latest.expired && now().getTime() > latest.expires.getTime()) {
          await markExpiredIfDue(latest, now(), 'past its dc:date:expires', result);
        }
      } catch (err) {
        log('error', `Cannot mark the list of '${sub.identifier}' expired: ${(err as Error).message}`);
      }
    }
  }

  async function update(selection: UpdateSelection = {}, opts: UpdateOptions = {}): Promise<UpdateResult> {
    return store.withLock(
      LOCK_NAME,
      async () => {
        const subs = await select(selection);
        const results = await pool(subs, opts.concurrency ?? 8, (s) => updateOne(s, opts));
        return { status: worstStatus(results.map((r) => r.status)), results };
      },
      // A whole -U can take minutes (60 s timeouts per list): wait for a running one rather than fail.
      { waitMs: options.lockWaitMs ?? 600_000 },
    );
  }

  async function verifiedMessage(subscription: string) {
    const list = await store.subscriber.getLatestImageList(subscription);
    if (!list) {
      throw new SubscriptionError('ERR_SUB_NOT_FOUND', `Subscription '${subscription}' needs an update.`, {
        subscription,
      });
    }
    const v = await verifyImageList(list.data, { trust: await trust(), at: now(), crl, subscription });
    return { content: v.content, signer: v.signer, list };
  }

  return {
    subscribe,
    update,
    select,
    verifiedMessage,
    close: () => fetcher.close(),
  };
}

function ctxOf(err: SubscriptionError) {
  const c: { url?: string; httpStatus?: number } = {};
  if (err.url !== undefined) c.url = err.url;
  if (err.httpStatus !== undefined) c.httpStatus = err.httpStatus;
  return c;
}

export type { VerifiedImageList } from './check.js';
