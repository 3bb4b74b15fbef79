// Subscribing to signed image lists and updating them: the library behind `vmcatcher_subscribe -s/-U`.
// Fetching, opening (S/MIME, schema, signer = declared endorser) and the update decision are
// @hepix/imagelist-client's; this module only orchestrates: select the subscriptions, fetch each within its
// limits, decide, record the list with its image rows in the store, announce new images, re-validate what is
// stored: under one store lock on SQLite, under a claim per subscription on PostgreSQL.
import { randomUUID } from 'node:crypto';
import { mapLimit, messageOf, noopLogger, type Logger, sha512Hex, withFields } from '@hepix/common';
import {
  type CrlPolicy,
  decideUpdate,
  type FetchedList,
  type ListFacts,
  ListClientError,
  type OpenedList,
  openList,
  parseListUrl,
} from '@hepix/imagelist-client';
import {
  type ListWithdrawal,
  type Principal,
  type RunItemInput,
  type RunRecorder,
  type Store,
  StoreError,
  type StoredImageList,
  type Subscription,
  type TrustAnchorMode,
  type UpdateMode,
} from '@hepix/imagelist-store';
import {
  DEFAULT_POLICY,
  evaluateListPolicy,
  evaluatePolicy,
  type PolicyDecision,
  type PolicyExpiryReason,
  type PolicyRule,
  type SitePolicy,
} from '@hepix/site-policy';
import { TrustStore } from '@hepix/smime-x509';
import { createTransport, redactUrl, type TlsTrust, type Transport } from '@hepix/transport';
import { ImageCacheError } from '../cache/errors.js';
import { type TransferLimits, transferLimits } from '../deadlines.js';
import { refusalDetail, storedListFacts } from '../policy.js';
import { fetchWithinLimits } from './fetch.js';
import { imageInstances } from './images.js';
import { checkStoredList } from './revalidate.js';
import { WORK_CHANNEL } from '../work-channel.js';

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

/** How lists are fetched (the transport the engine makes, and the limits of every fetch). */
export interface ListFetchOptions extends Partial<TransferLimits> {
  /** Connect timeout, and idle timeout for the headers and between two body chunks (default 60 000 ms). */
  timeoutMs?: number;
  /** Redirects followed at most (default 5). */
  maxRedirects?: number;
  /** Largest list accepted, in bytes (default 64 MiB). */
  maxBytes?: number;
  /** Environment read for HTTPS_PROXY/HTTP_PROXY/NO_PROXY (and lower-case forms); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Concurrent connections per origin (default 16). */
  connections?: number;
  /** Extra PEM CA certificates trusted with the system roots for trust anchor `browser` (e.g. a site CA). */
  extraCa?: string[];
  /** Default `vmcatcher`. */
  userAgent?: string;
}

export interface SubscriptionsOptions {
  store: Store;
  /** Grid CA directory: S/MIME trust anchors, and TLS roots for subscriptions with trust anchor `igtf`. */
  certDir?: string;
  /** A trust store already loaded, used as it is (otherwise certDir is read at the start of every update). */
  trust?: TrustStore;
  /**
   * Accept CAs without a `.namespaces`/`.signing_policy` file and self-signed signers, each with a warning
   * (`--allow-unrestricted-ca`; applies to a trust store read from certDir). Default false.
   */
  allowUnrestrictedCa?: boolean;
  /** CRL policy for signature checks (default `require`: a current CRL of every CA in the chain). */
  crl?: CrlPolicy;
  /** Decides list validity (dates, certificates, CRLs); transfer deadlines are wall-clock time. */
  now?: () => Date;
  log?: Logger;
  /** The transport lists are fetched with (not closed by `close()`); default one made from `fetch`. */
  transport?: Transport;
  fetch?: ListFetchOptions;
  /** Awaited after the list is stored; failures are logged and do not fail the update. */
  onNewImage?: (event: NewImageEvent) => Promise<void>;
  /** How long `update` waits for another process's update to finish (default 10 minutes). */
  lockWaitMs?: number;
  /**
   * The site policy (`@hepix/site-policy`) images and lists are judged by at every update; default
   * `DEFAULT_POLICY` (every rule off but `deprecated = refuse`).
   */
  policy?: SitePolicy;
}

/** An image of the subscription's list that the site policy refuses: not available (state bit 2 clear). */
export interface PolicyRefusal {
  image: string;
  /** The first refusing rule. */
  rule: PolicyRule;
  /** Why, for people. */
  detail: string;
  /** The expiry reason the cache gives when it expires the image for it. */
  reason: PolicyExpiryReason;
  /** The `sl:deprecated` reason, when the image is deprecated. */
  deprecated?: string;
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
  /**
   * Records the run: an item per subscription (`updated`, `unchanged` or `rejected` with the error code), one per
   * new image (`image-accepted`, `image-refused`), a run-level failure (the lock, the selection) as a `failed`
   * item, the counters and the list bytes fetched. The caller begins and ends the run
   * (`store.subscriber.beginRun({ tool: 'subscribe' })`); a failure to record is logged, never fails the update.
   */
  recorder?: RunRecorder;
}

export type UpdateOutcome = 'updated' | 'unchanged' | 'rejected';

/** What a rejected update carries: the list client's, the store's, or this package's error, with its code. */
export type SubscriptionUpdateError = ListClientError | StoreError | ImageCacheError;

export interface SubscriptionUpdateResult {
  subscription: string;
  uri: string;
  outcome: UpdateOutcome;
  /** Why the fetched list was not imported (`outcome` `rejected`). */
  error?: SubscriptionUpdateError;
  /** Set when a new list instance was stored. */
  imageListId?: number;
  version?: string;
  accepted: string[];
  /** New images refused by update mode 0 (the list was imported): the original's status 32. */
  refused: string[];
  warnings: string[];
  /** The stored list was marked expired during this update. */
  markedExpired: boolean;
  /** The stored list was withdrawn during this update (its signer is no longer trusted or authorised). */
  withdrawn?: ListWithdrawal;
  /**
   * Images of the subscription's current list that the site policy refuses (not available; a decision, not an
   * error). Reported at every update, since the policy may change between two.
   */
  policyRefused: PolicyRefusal[];
}

export interface UpdateResult {
  results: SubscriptionUpdateResult[];
  /**
   * On PostgreSQL, where several `-U` may run at once: the selected subscriptions another one was updating
   * (claimed, or finished after this update began), left to it. Absent on SQLite, where updates run one at a time under the store lock.
   */
  claimedElsewhere?: string[];
}

/** The claim kind of an update: one subscription. */
const SUBSCRIPTION_CLAIM = 'subscription';
/** Lease of a subscription claim, renewed every third of it while the update runs. */
const CLAIM_LEASE_MS = 60_000;

export interface Subscriptions {
  subscribe(url: string, options?: SubscribeOptions): Promise<SubscribeResult>;
  /**
   * Updates the selected subscriptions (all when no selection): on SQLite under the store lock
   * `vmcatcher-subscribe-update`, on PostgreSQL each subscription under a claim of its own (see
   * `claimedElsewhere`). When a list was stored, expired or withdrawn, notifies WORK_CHANNEL. Never throws for a
   * bad list: see the per-subscription results.
   */
  update(selection?: UpdateSelection, options?: UpdateOptions): Promise<UpdateResult>;
  /** Resolves a selection to subscriptions; `ERR_SUB_NOT_FOUND` for an unknown identifier or URI. */
  select(selection?: UpdateSelection): Promise<Subscription[]>;
  /** Re-verifies the stored signed list of a subscription (now) and returns the signed content. */
  verifiedMessage(
    subscription: string,
  ): Promise<{ content: Uint8Array; signer: Principal; list: StoredImageList }>;
  close(): Promise<void>;
}

const LOCK_NAME = 'vmcatcher-subscribe-update';

function facts(stored: StoredImageList): ListFacts {
  return {
    identifier: stored.subscription,
    version: stored.version,
    created: stored.created,
    expires: stored.expires,
    dataHash: stored.dataHash,
  };
}

/** Errors with a code of their own pass through; anything else is a bug of this engine. */
function asUpdateError(err: unknown, what: string): SubscriptionUpdateError {
  if (err instanceof ListClientError || err instanceof StoreError || err instanceof ImageCacheError)
    return err;
  return new ImageCacheError('ERR_SUB_INTERNAL', `${what} failed unexpectedly: ${messageOf(err)}`, {
    cause: err,
  });
}

export function createSubscriptions(options: SubscriptionsOptions): Subscriptions {
  const { store } = options;
  const now = options.now ?? (() => new Date());
  const log: Logger = options.log ?? noopLogger;
  const crl = options.crl ?? 'require';
  const policy = options.policy ?? DEFAULT_POLICY;
  const fetchOptions = options.fetch ?? {};
  const limits = transferLimits(fetchOptions);
  for (const [name, value] of Object.entries(limits)) {
    const zeroAllowed = name === 'minRate';
    if (!Number.isFinite(value) || value < 0 || (value === 0 && !zeroAllowed)) {
      throw new ImageCacheError(
        'ERR_SUB_INVALID_ARGUMENT',
        `fetch.${name} must be a ${zeroAllowed ? 'non-negative' : 'positive'} number`,
      );
    }
  }
  const timeout = fetchOptions.timeoutMs ?? 60_000;
  const transport =
    options.transport ??
    createTransport({
      userAgent: fetchOptions.userAgent ?? 'vmcatcher',
      connectTimeoutMs: timeout,
      idleTimeoutMs: timeout,
      maxRedirects: fetchOptions.maxRedirects ?? 5,
      connections: fetchOptions.connections ?? 16,
      ...(fetchOptions.env ? { env: fetchOptions.env } : {}),
      log,
    });

  let cachedTrust: Promise<TrustStore> | undefined;
  /**
   * The trust store: the injected one, or the CA directory. `fresh` reads the directory again (every update
   * does, so a revoked certificate or a removed CA counts at the next run); a failed read is not kept.
   */
  function loadTrust(fresh = false): Promise<TrustStore> {
    if (options.trust) return Promise.resolve(options.trust);
    if (fresh || !cachedTrust) {
      const reading = readTrust();
      cachedTrust = reading;
      reading.catch(() => {
        if (cachedTrust === reading) cachedTrust = undefined;
      });
    }
    return cachedTrust;
  }

  async function readTrust(): Promise<TrustStore> {
    const dir = options.certDir;
    if (!dir)
      throw new ImageCacheError('ERR_SUB_NO_TRUST_ANCHOR', 'No trust anchor: set a certificate directory');
    try {
      return await TrustStore.fromDirectory(dir, {
        allowUnrestrictedCa: options.allowUnrestrictedCa === true,
      });
    } catch (cause) {
      throw new ImageCacheError('ERR_SUB_NO_TRUST_ANCHOR', `Cannot load the trust anchors in '${dir}'`, {
        path: dir,
        cause,
      });
    }
  }

  function tlsFor(mode: TrustAnchorMode): TlsTrust {
    if (mode === 'none') return { mode: 'none' };
    if (mode === 'igtf') {
      if (!options.certDir)
        throw new ImageCacheError(
          'ERR_SUB_NO_TRUST_ANCHOR',
          'Trust anchor igtf needs a certificate directory',
        );
      return { mode: 'igtf', certDir: options.certDir };
    }
    return fetchOptions.extraCa?.length
      ? { mode: 'browser', extraCa: fetchOptions.extraCa }
      : { mode: 'browser' };
  }

  function fetchFor(
    url: string,
    mode: TrustAnchorMode,
    credentials: { username?: string; password?: string },
  ) {
    return fetchWithinLimits(transport, url, {
      tls: tlsFor(mode),
      credentials,
      limits,
      ...(fetchOptions.maxBytes === undefined ? {} : { maxBytes: fetchOptions.maxBytes }),
    });
  }

  /** Logs what openList accepted with reservations (SHA-1, unrestricted CA, dropped images): the site must see it. */
  function reportWarnings(opened: OpenedList, subscription: string, warn: (m: string) => void): void {
    for (const w of opened.warnings) warn(`Image list of subscription '${subscription}': ${w}`);
  }

  async function subscribe(url: string, opts: SubscribeOptions = {}): Promise<SubscribeResult> {
    if (!URL.canParse(url))
      throw new ImageCacheError('ERR_SUB_INVALID_ARGUMENT', `Invalid URL '${redactUrl(url)}'`);
    const parsed = parseListUrl(url);
    // The subscription's identifier is known once the list is open; until then lines name the URL only.
    let slog = withFields(log, { uri: parsed.url });
    const credentials = {
      username: opts.credentials?.username ?? parsed.username,
      password: opts.credentials?.password ?? parsed.password,
    };
    const trustAnchor = opts.trustAnchor ?? 'browser';
    const warnings: string[] = [];
    const warn = (m: string) => {
      warnings.push(m);
      slog('warn', m);
    };
    const trust = await loadTrust();
    const fetched = await fetchFor(parsed.url, trustAnchor, credentials);
    const at = now();
    const opened = await openList(fetched.data, { trust, at, crl });
    slog = withFields(log, { subscription: opened.identifier, uri: parsed.url });
    reportWarnings(opened, opened.identifier, warn);

    let endorser = await store.subscriber.findEndorserByPrincipal(opened.signer);
    // The list's own checks first (identifier, dates), as an update would make them; then the endorser.
    const decision = decideUpdate(
      undefined,
      { ...opened, dataHash: sha512Hex(fetched.data) },
      { referenceTime: at, authorised: true },
    );
    if (decision.kind === 'refuse')
      throw new ListClientError(decision.code, decision.message, { url: parsed.url });
    if (opened.uri !== parsed.url) warn('list hv:uri does not match subscription uri');

    let autoEndorsed = false;
    if (!endorser) {
      if (!opts.autoEndorse) {
        throw new ImageCacheError(
          'ERR_SUB_UNKNOWN_ENDORSER',
          `Endorser '${opened.signer.subject}' issued by '${opened.signer.issuer}' is not known; create it with vmcatcher_endorser --create or use --auto-endorse`,
          { uri: parsed.url },
        );
      }
      warn(`Auto-endorsing '${opened.signer.subject}' issued by '${opened.signer.issuer}'`);
      endorser = await store.subscriber.createEndorser(randomUUID(), [opened.signer]);
      autoEndorsed = true;
    }
    if (await store.subscriber.getSubscription(opened.identifier)) {
      throw new ImageCacheError(
        'ERR_SUB_CONFLICT',
        `Already subscribed to image list '${opened.identifier}'`,
        {
          uri: parsed.url,
        },
      );
    }
    if (await store.subscriber.getSubscriptionByUri(parsed.url)) {
      throw new ImageCacheError('ERR_SUB_CONFLICT', `A subscription to '${parsed.url}' already exists`, {
        uri: parsed.url,
      });
    }
    const updateMode = opts.updateMode ?? 0;
    const images = imageInstances(opened, warn).map((i) => ({
      identifier: i.identifier,
      cache: updateMode === 3,
    }));
    const creds: { username?: string; password?: string } = {};
    if (credentials.username !== undefined) creds.username = credentials.username;
    if (credentials.password !== undefined) creds.password = credentials.password;
    const subscription = await store.subscriber.createSubscription({
      identifier: opened.identifier,
      description: typeof opened.list['dc:description'] === 'string' ? opened.list['dc:description'] : '',
      uri: parsed.url,
      trustAnchor,
      updateMode,
      credentials: creds,
      endorser: endorser.identifier,
      images,
    });
    slog('info', `Subscribed to '${opened.identifier}' at '${parsed.url}'`);
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
      throw new ImageCacheError('ERR_SUB_INVALID_ARGUMENT', 'Conflicting selectors.');
    }
    if (!ids.length && !uris.length) return store.subscriber.listSubscriptions();
    const out: Subscription[] = [];
    for (const id of ids) {
      const s = await store.subscriber.getSubscription(id);
      if (!s) throw new ImageCacheError('ERR_SUB_NOT_FOUND', `No subscription '${id}'`);
      out.push(s);
    }
    for (const uri of uris) {
      const s = await store.subscriber.getSubscriptionByUri(uri);
      if (!s) throw new ImageCacheError('ERR_SUB_NOT_FOUND', `No subscription with URI '${uri}'`, { uri });
      out.push(s);
    }
    return out;
  }

  /** Image identifiers of a stored list, from its signed content (verified when it was stored). */
  async function previousImageIds(
    stored: StoredImageList | undefined,
    trust: TrustStore,
  ): Promise<Set<string>> {
    if (!stored) return new Set();
    try {
      const v = await openList(stored.data, { trust, at: stored.imported, crl: 'ignore' });
      return new Set(v.images.map((i) => String(i['dc:identifier'] ?? '')));
    } catch {
      return new Set();
    }
  }

  async function updateOne(
    sub: Subscription,
    opts: UpdateOptions,
    anchors: { trust: TrustStore } | { error: SubscriptionUpdateError },
  ): Promise<SubscriptionUpdateResult> {
    const trust = 'trust' in anchors ? anchors.trust : undefined;
    const result: SubscriptionUpdateResult = {
      subscription: sub.identifier,
      uri: sub.uri,
      outcome: 'unchanged',
      accepted: [],
      refused: [],
      warnings: [],
      markedExpired: false,
      policyRefused: [],
    };
    const slog = withFields(log, { subscription: sub.identifier, uri: sub.uri });
    const warn = (m: string) => {
      result.warnings.push(m);
      slog('warn', m);
    };
    const markExpired = async (stored: StoredImageList, at: Date, reason: string) => {
      if (stored.expired || result.markedExpired) return;
      await store.subscriber.markImageListExpired(stored.id, at);
      result.markedExpired = true;
      slog('warn', `Image list of subscription '${sub.identifier}' marked expired: ${reason}`);
    };
    /** A list the site's max-list-age refuses is handled like an expired one (the caller retires the stored). */
    const checkListPolicy = (opened: OpenedList, at: Date, url: string) => {
      const verdict = evaluateListPolicy(policy, opened, { now: at });
      if (verdict.decision === 'allow') return;
      throw new ImageCacheError(
        'ERR_SUB_LIST_TOO_OLD',
        `Image list '${opened.identifier}' is refused by the site policy (${verdict.refusedBy}): ${refusalDetail(verdict)}`,
        { subscription: sub.identifier, uri: url },
      );
    };
    /** Each image of the current list under the site policy: refusals reported, warnings logged. */
    const judgeImages = (
      opened: OpenedList,
      images: { identifier: string; image: Record<string, unknown> }[],
      at: Date,
    ) => {
      for (const { identifier, image } of images) {
        const verdict: PolicyDecision = evaluatePolicy(policy, image, opened, { now: at });
        for (const w of verdict.warnings)
          warn(`Image '${identifier}' of subscription '${sub.identifier}': ${w}`);
        if (verdict.decision === 'allow' || !verdict.refusedBy) continue;
        const refusal: PolicyRefusal = {
          image: identifier,
          rule: verdict.refusedBy,
          detail: refusalDetail(verdict),
          reason: verdict.expiryReason ?? 'policy',
          ...(verdict.deprecated !== undefined ? { deprecated: verdict.deprecated } : {}),
        };
        result.policyRefused.push(refusal);
        slog(
          'warn',
          `Image '${identifier}' of subscription '${sub.identifier}' is not available: refused by the site policy (${refusal.rule}): ${refusal.detail}`,
          { image: identifier, rule: refusal.rule },
        );
      }
    };
    slog('info', `Updating:${sub.identifier}`);
    let stored: StoredImageList | undefined;
    try {
      stored = await store.subscriber.getLatestImageList(sub.identifier);
      if (!trust) throw (anchors as { error: SubscriptionUpdateError }).error;
      const credentials = await store.subscriber.getCredentials(sub.identifier);
      const fetched: FetchedList = await fetchFor(sub.uri, sub.trustAnchor, credentials);
      opts.recorder?.addBytes(fetched.data.byteLength);
      const at = now();
      const dataHash = sha512Hex(fetched.data);
      const opened = await openList(fetched.data, { trust, at, crl });
      reportWarnings(opened, sub.identifier, warn);
      if (opened.uri !== sub.uri) {
        warn(
          `list hv:uri does not match subscription uri ('${redactUrl(opened.uri)}' in the list, '${sub.uri}' subscribed; the subscription is not moved)`,
        );
      }
      const authorised = await store.subscriber.isAuthorised(sub.identifier, opened.signer);
      const decision = decideUpdate(
        stored && facts(stored),
        { ...opened, dataHash },
        {
          referenceTime: at,
          expectedIdentifier: sub.identifier,
          authorised,
          // A withdrawn list is never reinstated in place: the same bytes, fetched and valid again (the
          // endorser re-linked, the CA back), are recorded as a new list instance.
          force: opts.force === true || stored?.withdrawn !== undefined,
        },
      );
      if (decision.kind !== 'accept') {
        if (stored && decision.retireStored) await markExpired(stored, at, decision.reason ?? decision.kind);
        if (decision.kind === 'unchanged') checkListPolicy(opened, at, fetched.url);
        if (decision.kind === 'refuse') {
          const detail =
            decision.code === 'ERR_LIST_NOT_AUTHORISED'
              ? `Endorser '${opened.signer.subject}' issued by '${opened.signer.issuer}' is not authorised on subscription '${sub.identifier}'`
              : decision.message;
          throw new ListClientError(decision.code, detail, { url: fetched.url });
        }
        slog('debug', `Subscription '${sub.identifier}' unchanged`);
        result.version = stored?.version ?? opened.version;
        if (!stored?.expired && !stored?.withdrawn && !result.markedExpired)
          judgeImages(
            opened,
            imageInstances(opened, () => {}),
            at,
          );
        return result;
      }
      checkListPolicy(opened, at, fetched.url);
      for (const w of decision.warnings) warn(w);
      if (stored?.withdrawn) {
        slog('info', `Image list of subscription '${sub.identifier}' is valid again; recorded anew`);
      }
      const images = imageInstances(opened, warn);
      const metadata: Record<string, unknown> = { ...opened.list };
      delete metadata['hv:images'];
      const recorded = await store.subscriber.recordImageList(sub.identifier, {
        data: fetched.data,
        dataHash,
        created: opened.created,
        expires: opened.expires,
        version: opened.version,
        signer: opened.signer,
        metadata,
        images,
      });
      result.outcome = 'updated';
      judgeImages(opened, images, at);
      result.imageListId = recorded.imageListId;
      result.version = opened.version;
      result.accepted = recorded.accepted;
      // Refused images are reported (and announced) once: when they first appear, not on every update.
      const before = recorded.refused.length ? await previousImageIds(stored, trust) : new Set<string>();
      result.refused = recorded.refused.filter((id) => !before.has(id));
      if (result.refused.length) {
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
            warn(`SubscriptionImageNew handler failed for image '${id}': ${messageOf(err)}`);
          }
        }
      }
      return result;
    } catch (err) {
      const e = asUpdateError(err, `Update of '${sub.identifier}'`);
      result.error = e;
      result.outcome = 'rejected';
      slog('error', e.message, { code: e.code });
      return result;
    } finally {
      // What is stored is judged on its own whatever the fetch gave (a failed download included): past its
      // expiry it is marked expired; signed by someone no longer trusted or authorised, it is withdrawn. A list
      // just imported, or fetched again byte for byte and accepted, needs neither.
      if (stored && trust && result.outcome === 'rejected') {
        try {
          await judgeStored(stored, trust, result, markExpired, slog);
        } catch (err) {
          slog('error', `Cannot re-validate the stored list of '${sub.identifier}': ${messageOf(err)}`);
        }
      }
      await recordAttempt(sub, result, opts.recorder, slog);
    }
  }

  /** The subscription's last attempt (success or error) and, with a recorder, the run history's items. */
  async function recordAttempt(
    sub: Subscription,
    result: SubscriptionUpdateResult,
    recorder: RunRecorder | undefined,
    slog: Logger,
  ): Promise<void> {
    const error = result.error ? { code: result.error.code, message: result.error.message } : undefined;
    try {
      await store.subscriber.recordUpdateAttempt(sub.identifier, error ? { error } : {});
      if (!recorder) return;
      recorder.count(result.outcome);
      const items: RunItemInput[] = [
        {
          subscription: sub.identifier,
          uri: sub.uri,
          action: result.outcome,
          ...(error ?? {}),
          ...(result.version !== undefined && !error ? { message: `version ${result.version}` } : {}),
        },
      ];
      for (const [action, ids] of [
        ['image-accepted', result.accepted],
        ['image-refused', result.refused],
      ] as const) {
        for (const image of ids) items.push({ subscription: sub.identifier, uri: sub.uri, image, action });
        if (ids.length) recorder.count(action, ids.length);
      }
      // One write per list, not one per image: on SQLite each was a commit with its own fsync.
      await recorder.items(items);
    } catch (err) {
      slog('warn', `Cannot record the update attempt of '${sub.identifier}': ${messageOf(err)}`);
    }
  }

  async function judgeStored(
    stored: StoredImageList,
    trust: TrustStore,
    result: SubscriptionUpdateResult,
    markExpired: (stored: StoredImageList, at: Date, reason: string) => Promise<void>,
    slog: Logger,
  ): Promise<void> {
    if (stored.withdrawn || stored.expired || result.markedExpired) return;
    const at = now();
    if (at.getTime() > stored.expires.getTime()) {
      await markExpired(stored, at, 'past its dc:date:expires');
      return;
    }
    // The site's max-list-age retires what is stored as an expiry would (a replayed old list included).
    const age = evaluateListPolicy(policy, storedListFacts(stored, stored.subscription), { now: at });
    if (age.decision === 'refuse') {
      await markExpired(stored, at, `refused by the site policy (${age.refusedBy}): ${refusalDetail(age)}`);
      return;
    }
    const check = await checkStoredList(store, trust, stored, { at, crl, log: slog });
    if (check.withdrawal) result.withdrawn = check.withdrawal;
  }

  async function update(selection: UpdateSelection = {}, opts: UpdateOptions = {}): Promise<UpdateResult> {
    try {
      return await lockedUpdate(selection, opts);
    } catch (err) {
      const e = asUpdateError(err, 'The update');
      await opts.recorder
        ?.item({ action: 'failed', code: e.code, message: e.message })
        .catch((r) => log('warn', `Cannot record the run history: ${messageOf(r)}`));
      throw err;
    }
  }

  /** Tells cache workers (PostgreSQL NOTIFY) that there is new work; a failure only delays them to their poll. */
  async function notifyWorkers(results: SubscriptionUpdateResult[]): Promise<void> {
    const changed = results.filter((r) => r.imageListId !== undefined || r.markedExpired || r.withdrawn);
    if (!changed.length) return;
    await store
      .notify(
        WORK_CHANNEL,
        changed
          .map((r) => r.subscription)
          .join(' ')
          .slice(0, 7000),
      )
      .catch((err) => log('warn', `Cannot notify the cache workers: ${messageOf(err)}`));
  }

  async function lockedUpdate(selection: UpdateSelection, opts: UpdateOptions): Promise<UpdateResult> {
    const r =
      store.dialect === 'postgres'
        ? await claimedUpdate(selection, opts)
        : await serialUpdate(selection, opts);
    await notifyWorkers(r.results);
    return r;
  }

  /**
   * PostgreSQL: each subscription is claimed (`store.claims`, kind `subscription`) just before its update, so
   * that several `-U` at once, on any hosts, share the subscriptions and never fetch the same list together.
   * One another process holds, or finished after this update began, is left to it (`claimedElsewhere`); the
   * claims of a process that died expire after their lease.
   */
  async function claimedUpdate(selection: UpdateSelection, opts: UpdateOptions): Promise<UpdateResult> {
    const subs = await select(selection);
    const anchors = await loadTrust(true).then(
      (trust) => ({ trust }),
      (err: unknown) => ({ error: asUpdateError(err, 'Loading the trust anchors') }),
    );
    const owner = randomUUID();
    // A list another process finished updating after this update began is not fetched again.
    const started = new Date();
    const heartbeat = store.claims.heartbeat(owner, CLAIM_LEASE_MS, (err) =>
      log('warn', `Cannot renew the subscription claims: ${messageOf(err)}`),
    );
    const elsewhere: string[] = [];
    try {
      const results = await mapLimit(subs, opts.concurrency ?? 8, async (s) => {
        const [got] = await store.claims.claim(SUBSCRIPTION_CLAIM, [s.identifier], {
          owner,
          leaseMs: CLAIM_LEASE_MS,
          notDoneSince: started,
        });
        if (got === undefined) {
          log('info', 'Being updated, or just updated, by another process: left to it', {
            subscription: s.identifier,
          });
          elsewhere.push(s.identifier);
          return undefined;
        }
        try {
          return await updateOne(s, opts, anchors);
        } finally {
          await store.claims
            .release(SUBSCRIPTION_CLAIM, s.identifier, owner, { done: true })
            .catch((err) => log('warn', `Cannot release the claim of ${s.identifier}: ${messageOf(err)}`));
        }
      });
      return {
        results: results.filter((r): r is SubscriptionUpdateResult => r !== undefined),
        claimedElsewhere: elsewhere,
      };
    } finally {
      heartbeat.stop();
    }
  }

  function serialUpdate(selection: UpdateSelection, opts: UpdateOptions): Promise<UpdateResult> {
    return store.withLock(
      LOCK_NAME,
      async () => {
        const subs = await select(selection);
        // One read of the CA directory per run: the current trust for every fetched and stored list.
        const anchors = await loadTrust(true).then(
          (trust) => ({ trust }),
          (err: unknown) => ({ error: asUpdateError(err, 'Loading the trust anchors') }),
        );
        const results = await mapLimit(subs, opts.concurrency ?? 8, (s) => updateOne(s, opts, anchors));
        return { results };
      },
      // A whole -U can take minutes (a deadline per list): wait for a running one rather than fail.
      { waitMs: options.lockWaitMs ?? 600_000 },
    );
  }

  async function verifiedMessage(subscription: string) {
    const list = await store.subscriber.getLatestImageList(subscription);
    if (!list) {
      throw new ImageCacheError('ERR_SUB_NOT_FOUND', `Subscription '${subscription}' needs an update.`);
    }
    const opened = await openList(list.data, { trust: await loadTrust(), at: now(), crl });
    return { content: opened.content, signer: opened.signer, list };
  }

  return {
    subscribe,
    update,
    select,
    verifiedMessage,
    close: async () => {
      if (!options.transport) await transport.close();
    },
  };
}
