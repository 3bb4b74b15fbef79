// The public contract of the store: both CLIs and @hepix/image-cache program against these types.
// Everything that changes several rows runs in one transaction; a failure leaves the store as it was.
import type { Logger } from '@hepix/common';
import type { WorkClaims } from './claims.js';
import type { DialectName, StoreDialect } from './dialect.js';
import type { StoreExtension } from './extension.js';
import type { LeaseHolder, LeaseTimings } from './lease.js';
import type { LegacyVmcasterImportResult } from './legacy/vmcaster.js';
import type { LegacyVmcatcherImportResult } from './legacy/vmcatcher.js';

/** Metadata of an endorser, image list or image as the publisher keeps it: key → string value. */
export type Metadata = Record<string, string>;

export interface OpenStoreOptions {
  /** Clock used for timestamps the store sets itself (`updated`, `imported`) and for list expiry. */
  now?: () => Date;
  /** SQLite busy timeout and the default lock wait, in milliseconds (default 30 000). */
  busyTimeoutMs?: number;
  /** Receives migration messages, lock waits and warnings. */
  log?: Logger;
  /** Open an existing database without creating it (a missing SQLite file is `ERR_STORE_OPEN`). */
  mustExist?: boolean;
  /** Other packages' tables, migrated on open after the store's own (see `StoreExtension`). */
  extensions?: readonly StoreExtension<unknown>[];
  /** Lease timing of `withLock` (default: 30 s lease, renewed every 5 s). */
  lease?: LeaseTimings;
  /**
   * What opening does with the tables of an original vmcatcher/vmcaster in the same database: `auto` (default)
   * migrates them once (SQLite: after copying the file aside) or refuses with `ERR_STORE_LEGACY`; `off` leaves
   * them alone (for `vmcatcher import-legacy`, which migrates them explicitly).
   */
  legacyMigration?: 'auto' | 'off';
}

/** {@link createStore}'s options: a dialect instead of a URL. */
export interface CreateStoreOptions extends Omit<OpenStoreOptions, 'mustExist'> {
  dialect: StoreDialect;
}

/** What opening did to an original database, once: the result `store.legacyMigration` carries for a CLI. */
export interface LegacyMigration {
  tools: ('vmcatcher' | 'vmcaster')[];
  vmcatcher?: LegacyVmcatcherImportResult;
  vmcaster?: LegacyVmcasterImportResult;
  /** The byte-for-byte copy of the SQLite file made first; undefined on PostgreSQL (no copy is made). */
  backup?: string;
  at: Date;
  /** One line for people: what was migrated, and where the copy is (or that there is none). */
  message: string;
}

/** Repositories bound to one transaction (see `store.transaction`). */
export interface StoreRepositories {
  readonly publisher: PublisherRepository;
  readonly subscriber: SubscriberRepository;
  /** An extension's repository on the same transaction. */
  extension<R>(extension: StoreExtension<R>): R;
}

export interface Store {
  readonly dialect: DialectName;
  /** The URL the store was opened with, with any password removed. */
  readonly url: string;
  readonly publisher: PublisherRepository;
  readonly subscriber: SubscriberRepository;
  /**
   * Runs `fn` with repositories bound to one transaction: everything it does is committed together, or (when it
   * throws) nothing. Inside, use only the repositories it is given.
   */
  transaction<T>(fn: (repositories: StoreRepositories) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` while holding the named lock across processes and hosts: a lease row renewed by a heartbeat,
   * taken over once it has not been renewed for the lease duration. `fn` gets a signal that fires if the lease
   * is lost. Waits up to `waitMs` (default: the busy timeout), then `ERR_STORE_LOCKED` naming the holder.
   */
  withLock<T>(
    name: string,
    fn: (signal: AbortSignal) => Promise<T>,
    options?: { waitMs?: number },
  ): Promise<T>;
  /** Who holds a lock now, if anyone. */
  lockHolder(name: string): Promise<LeaseHolder | undefined>;
  /** Row leases for work shared by many workers (per subscription, per image); see `WorkClaims`. */
  readonly claims: WorkClaims;
  /**
   * Wakes every process listening on `channel` (lower-case letters, digits and `_`), e.g. the cache workers
   * after `-U` stored a new list. PostgreSQL NOTIFY; a no-op on SQLite, where one process works at a time.
   */
  notify(channel: string, payload?: string): Promise<void>;
  /**
   * Calls `onNotify` for every `notify` on `channel` from any process, until the returned function is called.
   * PostgreSQL LISTEN on a connection of its own; on SQLite nothing ever arrives. A listener whose connection
   * is lost hears nothing more, so a worker waits with a timeout as well (it polls).
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** The repository of an extension given to `openStore`; `ERR_STORE_INVALID` for one that was not. */
  extension<R>(extension: StoreExtension<R>): R;
  /** Set when this open migrated an original vmcatcher/vmcaster database in place. */
  readonly legacyMigration?: LegacyMigration;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Publisher (vmcaster): endorsers keyed by DN, image lists and images keyed by dc:identifier, all with
// free key/value metadata. An image may belong to several lists.

export interface PublisherEndorser {
  /** The endorser's certificate subject, canonical (OpenSSL 1.x one-line form); it is also the `hv:dn` of exports. */
  dn: string;
  metadata: Metadata;
  imageLists: string[];
}

export interface PublisherImageList {
  identifier: string;
  metadata: Metadata;
  /** Identifiers of the bound images, in binding order. */
  images: string[];
  /** DNs of the bound endorsers, in binding order. */
  endorsers: string[];
  updated?: Date;
}

export interface PublisherImage {
  identifier: string;
  metadata: Metadata;
  imageLists: string[];
}

/** One list, image or endorser of an {@link ImportPlan}: its key and its metadata as stored (strings). */
export interface ImportPlanList {
  identifier: string;
  /** Without the reserved keys `dc:identifier`, `hv:endorser`, `hv:images`. */
  metadata: Metadata;
}
export interface ImportPlanImage {
  identifier: string;
  /** Without `dc:identifier`. */
  metadata: Metadata;
}
export interface ImportPlanEndorser {
  /** The endorser's DN, in either OpenSSL spelling (stored canonical). */
  dn: string;
  metadata: Metadata;
}

/** Which metadata {@link ImportPlan.replace} is asked about. */
export interface ImportSubject {
  kind: 'imagelist' | 'image';
  identifier: string;
}

/**
 * A format-agnostic import, applied by `applyImport` in one transaction. The caller (the publisher package)
 * has read the document; the store writes the rows and asks `replace` wherever stored metadata exists.
 */
export interface ImportPlan {
  list: ImportPlanList;
  /** The list's images, in list order (each identifier once). */
  images: ImportPlanImage[];
  /** The list's endorsers (each DN once, after canonicalisation). */
  endorsers: ImportPlanEndorser[];
  /**
   * Whether `incoming` replaces the `stored` metadata of the existing list or of an existing image. Called
   * inside the transaction with what is stored there; it must be pure (no I/O). New rows are always written.
   */
  replace(stored: Metadata, incoming: Metadata, subject: ImportSubject): boolean;
}

export interface ImportResult {
  identifier: string;
  created: boolean;
  /** False when `replace` kept the stored list's metadata. */
  metadataUpdated: boolean;
  images: { identifier: string; created: boolean; metadataUpdated: boolean }[];
  endorsers: { dn: string; created: boolean }[];
}

/** A list with the metadata of its bound endorsers and images, in binding order, read in one transaction. */
export interface PublisherImageListContents {
  identifier: string;
  metadata: Metadata;
  updated?: Date;
  endorsers: { dn: string; metadata: Metadata }[];
  images: { identifier: string; metadata: Metadata }[];
}

export interface PublisherRepository {
  listEndorsers(): Promise<string[]>;
  getEndorser(dn: string): Promise<PublisherEndorser | undefined>;
  /** `ERR_STORE_CONFLICT` if it exists. */
  addEndorser(dn: string, metadata?: Metadata): Promise<void>;
  /** Also removes its bindings. `ERR_STORE_NOT_FOUND` if absent. */
  deleteEndorser(dn: string): Promise<void>;
  setEndorserKeys(dn: string, metadata: Metadata): Promise<void>;
  deleteEndorserKey(dn: string, key: string): Promise<void>;

  listImageLists(): Promise<string[]>;
  getImageList(identifier: string): Promise<PublisherImageList | undefined>;
  addImageList(identifier: string, metadata?: Metadata): Promise<void>;
  /** Removes the list and its bindings; images stay (they may belong to other lists). */
  deleteImageList(identifier: string): Promise<void>;
  /** Sets several keys at once. The reserved keys `dc:identifier`, `hv:endorser`, `hv:images` are
   * `ERR_STORE_INVALID`. */
  setImageListKeys(identifier: string, metadata: Metadata): Promise<void>;
  deleteImageListKey(identifier: string, key: string): Promise<void>;

  listImages(): Promise<string[]>;
  getImage(identifier: string): Promise<PublisherImage | undefined>;
  addImage(identifier: string, metadata?: Metadata): Promise<void>;
  deleteImage(identifier: string): Promise<void>;
  /** `dc:identifier` is reserved (`ERR_STORE_INVALID`). */
  setImageKeys(identifier: string, metadata: Metadata): Promise<void>;
  deleteImageKey(identifier: string, key: string): Promise<void>;

  bindEndorser(imageList: string, dn: string): Promise<void>;
  unbindEndorser(imageList: string, dn: string): Promise<void>;
  bindImage(imageList: string, image: string): Promise<void>;
  unbindImage(imageList: string, image: string): Promise<void>;

  /**
   * Applies an import plan in one transaction: the list (created, or its metadata replaced when `replace` says
   * so), its images (created or, per `replace`, updated; all bound) and endorsers (created, or their metadata
   * merged when the list's was replaced; all bound). When an existing list's metadata is replaced its image set
   * becomes the plan's: images not in the plan are unbound, never deleted. A malformed plan is
   * `ERR_STORE_INVALID` before any row is touched; any failure leaves the store as it was.
   */
  applyImport(plan: ImportPlan): Promise<ImportResult>;

  /** The list with its bound endorsers and images, or undefined when there is no such list. */
  getImageListContents(identifier: string): Promise<PublisherImageListContents | undefined>;
}

// ---------------------------------------------------------------------------------------------------------
// Subscriber (vmcatcher)

/** A certificate's subject and issuer. The store writes and looks them up in canonicalDn() form, so either
 * OpenSSL spelling finds the same principal. */
export interface Principal {
  /** Certificate subject, one-line DN. */
  subject: string;
  /** Certificate issuer, one-line DN. */
  issuer: string;
}

export interface SubscriberEndorser {
  identifier: string;
  principals: Principal[];
}

export interface SubscriptionLink {
  endorser: string;
  subscription: string;
  authorised: boolean;
}

export type TrustAnchorMode = 'none' | 'browser' | 'igtf';
/** 0 refuse new images, 1 accept them, 3 accept and subscribe them (cache = 1). */
export type UpdateMode = 0 | 1 | 3;

export interface Subscription {
  /** The list's `dc:identifier`. */
  identifier: string;
  description: string;
  /** The URL the list is fetched from, without user info (credentials are kept apart). */
  uri: string;
  authorised: boolean;
  trustAnchor: TrustAnchorMode;
  updateMode: UpdateMode;
  /** When a new list instance was last recorded. */
  updated?: Date;
  /** The last update attempt (`recordUpdateAttempt`), whatever its result. */
  lastAttempt?: Date;
  /** The last attempt that succeeded: a list fetched and verified, recorded or unchanged. */
  lastSuccess?: Date;
  /** The last attempt that failed (kept after later successes: compare `at` with `lastSuccess`). */
  lastError?: { at: Date; code: string; message: string };
  /** True when Basic-auth credentials are stored; the secrets themselves only come from getCredentials. */
  hasUsername: boolean;
  hasPassword: boolean;
  /** The newest imported list, if any. */
  latest?: StoredImageListSummary;
}

export interface StoredImageListSummary {
  id: number;
  imported: Date;
  created: Date;
  expires: Date;
  version: string;
  /** sha512 hex of the raw signed bytes. */
  dataHash: string;
  /** Set when the list was found expired (or superseded by nothing newer past its expiry). */
  expired?: Date;
  /** Set when its endorsement was withdrawn (see `withdrawImageList`); it then makes no image available. */
  withdrawn?: ListWithdrawal;
  signer: Principal;
}

/** Why a stored list no longer endorses its images although it has not expired. */
export interface ListWithdrawal {
  /** When it was first found withdrawn. */
  at: Date;
  /** A stable code of the reason, e.g. `ERR_SMIME_REVOKED`, `ERR_SMIME_UNTRUSTED`, `ERR_LIST_NOT_AUTHORISED`. */
  code: string;
  /** The reason for people (and for an expiry event). */
  reason: string;
}

export interface StoredImageList extends StoredImageListSummary {
  subscription: string;
  /** The raw signed bytes exactly as fetched. */
  data: Uint8Array;
  /** The list-level keys of the decoded list (everything but `hv:images`), for `ad:vo` and friends. */
  metadata: Record<string, unknown>;
}

/** One image of one imported list. */
export interface ImageInstance {
  identifier: string;
  title: string;
  description: string;
  hypervisor: string;
  sha512: string;
  uri: string;
  os: string;
  osversion: string;
  arch: string;
  version: string;
  size: number;
  comments: string;
  format?: string;
  /** The whole `hv:image` object as published (every key, including `ad:*`). */
  image: Record<string, unknown>;
  imageListId: number;
}

export interface SubscribedImage {
  identifier: string;
  subscription: string;
  /** ImageDefinition.cache: subscribed for caching. */
  cache: boolean;
  /** The original state bitmap: bit 0 = cache, bit 1 = available (latest instance belongs to the
   * subscription's latest list, neither expired nor withdrawn, and the subscription is authorised). */
  state: number;
  latest?: ImageInstance;
}

export interface RecordImageListInput {
  data: Uint8Array;
  dataHash: string;
  created: Date;
  expires: Date;
  version: string;
  signer: Principal;
  metadata: Record<string, unknown>;
  images: Omit<ImageInstance, 'imageListId'>[];
}

export interface RecordImageListResult {
  imageListId: number;
  /** Images not registered before that were registered now (per update mode). */
  accepted: string[];
  /** Images not registered that were refused (update mode 0). */
  refused: string[];
}

export interface FailedEvent {
  id: number;
  recorded: Date;
  type: string;
  /** The event as delivered (JSON-serialisable). */
  payload: Record<string, unknown>;
  error: string;
  /** Deliveries tried so far (the first one included). */
  attempts: number;
  /** When the event was moved to the dead-letter list (it is no longer retried in order). */
  dead?: Date;
}

/** The tools whose runs are recorded. */
export type RunTool = 'subscribe' | 'cache';
/** `success`: nothing failed; `partial`: some subscriptions or images failed; `failure`: the run itself failed. */
export type RunOutcome = 'success' | 'partial' | 'failure';

/** One thing a run did to one subscription or image, e.g. `updated`, `rejected`, `downloaded`, `failed`. */
export interface RunItemInput {
  subscription?: string;
  uri?: string;
  image?: string;
  action: string;
  /** The error code of a failure (`ERR_LIST_SIGNATURE`, `ERR_CACHE_VERIFY`, …). */
  code?: string;
  message?: string;
  /** Default: the store clock. */
  at?: Date;
}
export interface RunItem extends RunItemInput {
  at: Date;
}

export interface RunRecord {
  id: number;
  tool: RunTool;
  host: string;
  pid: number;
  started: Date;
  /** Unset while the run is going on, or when it never ended (killed). */
  ended?: Date;
  outcome?: RunOutcome;
  exitStatus?: number;
  /** Counters of the run (`updated`, `unchanged`, `rejected`, `downloaded`, `expired`, `failed`, …). */
  counts: Record<string, number>;
  /** Bytes downloaded. */
  bytes: number;
}

/** What a run writes through: returned by `beginRun`, ended once by `end`. */
export interface RunRecorder {
  readonly id: number;
  readonly tool: RunTool;
  /** Records one item now. */
  item(item: RunItemInput): Promise<void>;
  /**
   * Records several items now, in one transaction: all or none (a bad item is refused before any is written).
   * What a caller with many items at once should use: one write instead of one per item.
   */
  items(items: readonly RunItemInput[]): Promise<void>;
  /** Adds to a counter of the run (kept in memory, written by `end`). */
  count(name: string, by?: number): void;
  /** Adds downloaded bytes (written by `end`). */
  addBytes(bytes: number): void;
  /** Ends the run: its outcome, exit status, counters and bytes; then prunes the history to `keep` runs. */
  end(result: { outcome: RunOutcome; exitStatus?: number }): Promise<RunRecord>;
}

/** Runs and bytes per tool and outcome since the store was made (never pruned: Prometheus counters). */
export interface RunTotal {
  tool: RunTool;
  outcome: RunOutcome;
  runs: number;
  bytes: number;
}

export interface SubscriberRepository {
  listEndorsers(): Promise<SubscriberEndorser[]>;
  getEndorser(identifier: string): Promise<SubscriberEndorser | undefined>;
  /** `ERR_STORE_CONFLICT` if the identifier or any principal subject already exists. */
  createEndorser(identifier: string, principals: Principal[]): Promise<SubscriberEndorser>;
  /** Removes principals and links too. */
  deleteEndorser(identifier: string): Promise<void>;
  /** Match on both DNs in canonical form. */
  findEndorserByPrincipal(principal: Principal): Promise<SubscriberEndorser | undefined>;

  listLinks(): Promise<SubscriptionLink[]>;
  link(endorser: string, subscription: string): Promise<void>;
  unlink(endorser: string, subscription: string): Promise<void>;
  /** True when some endorser with this principal has an authorised link to the subscription. */
  isAuthorised(subscription: string, principal: Principal): Promise<boolean>;

  listSubscriptions(): Promise<Subscription[]>;
  getSubscription(identifier: string): Promise<Subscription | undefined>;
  getSubscriptionByUri(uri: string): Promise<Subscription | undefined>;
  /**
   * Creates the subscription, its image definitions, and (when `endorser` is given) an authorised link, in
   * one transaction. `ERR_STORE_CONFLICT` if the identifier or uri is taken.
   */
  createSubscription(input: {
    identifier: string;
    description: string;
    uri: string;
    trustAnchor?: TrustAnchorMode;
    updateMode?: UpdateMode;
    credentials?: { username?: string; password?: string };
    endorser?: string;
    images?: { identifier: string; cache: boolean }[];
    /** The subscription's own authorised flag (default true, as vmcatcher subscribes). */
    authorised?: boolean;
  }): Promise<Subscription>;
  updateSubscription(
    identifier: string,
    patch: Partial<Pick<Subscription, 'uri' | 'description' | 'authorised' | 'trustAnchor' | 'updateMode'>>,
  ): Promise<void>;
  /** `null` clears a value, `undefined` leaves it. */
  setCredentials(
    identifier: string,
    credentials: { username?: string | null; password?: string | null },
  ): Promise<void>;
  getCredentials(identifier: string): Promise<{ username?: string; password?: string }>;
  /** Removes its image definitions, list instances and links. */
  deleteSubscription(identifier: string): Promise<void>;

  getLatestImageList(subscription: string): Promise<StoredImageList | undefined>;
  /**
   * One transaction: stores the list instance, an ImageInstance for every image whose definition exists (or
   * is created now per the subscription's update mode), points each definition's `latest` and the
   * subscription's latest list at them, and sets `updated`.
   */
  recordImageList(subscription: string, input: RecordImageListInput): Promise<RecordImageListResult>;
  markImageListExpired(imageListId: number, at: Date): Promise<void>;
  /**
   * Withdraws a stored list: its images lose the available bit and leave `listCacheCandidates`. The first
   * withdrawal is kept; nothing reverses it (only a newer list instance recorded after it makes images
   * available again). `ERR_STORE_NOT_FOUND` for an unknown id, `ERR_STORE_INVALID` for an empty code.
   */
  withdrawImageList(imageListId: number, withdrawal: ListWithdrawal): Promise<void>;

  listImages(filter?: { subscription?: string }): Promise<SubscribedImage[]>;
  /** All definitions with this identifier (the same image may be in several subscriptions). */
  getImages(identifier: string): Promise<SubscribedImage[]>;
  findImagesBySha512(sha512: string): Promise<SubscribedImage[]>;
  /** Sets cache for every definition with this identifier (optionally within one subscription). Returns the
   * number changed; 0 means unknown image. */
  setImageCache(identifier: string, cache: boolean, subscription?: string): Promise<number>;
  /** Pre-registers an image (cache 0); `ERR_STORE_CONFLICT` if already registered in that subscription. */
  acceptImage(subscription: string, identifier: string): Promise<void>;
  /** Removes the definition and its instances. */
  refuseImage(subscription: string, identifier: string): Promise<void>;
  /** Images with state 3 (subscribed and available): what the cache must hold. */
  listCacheCandidates(): Promise<
    (SubscribedImage & { latest: ImageInstance; list: StoredImageListSummary })[]
  >;

  recordFailedEvent(event: {
    type: string;
    payload: Record<string, unknown>;
    error: string;
  }): Promise<number>;
  /** Oldest first; `dead: false` only the live queue, `dead: true` only the dead-letter list (default both). */
  listFailedEvents(filter?: { dead?: boolean }): Promise<FailedEvent[]>;
  /** After a successful re-delivery, or to drop an event. */
  deleteFailedEvent(id: number): Promise<void>;
  /** After another failed re-delivery: one more attempt and the new error; returns the attempts now. */
  bumpFailedEvent(id: number, error: string): Promise<number>;
  /** Moves an event to the dead-letter list (kept for inspection and `--include-dead`, skipped otherwise). */
  markFailedEventDead(id: number): Promise<void>;

  /**
   * Records an update attempt of a subscription: `lastAttempt` always; `lastSuccess` without `error`;
   * `lastError` with it. `ERR_STORE_NOT_FOUND` for an unknown subscription.
   */
  recordUpdateAttempt(
    subscription: string,
    attempt: { at?: Date; error?: { code: string; message: string } },
  ): Promise<void>;

  /**
   * Starts a run record (`host`, `pid` default to this process's). `keep` (default 1000) is how many runs
   * `end` leaves in the history, newest first, with their items.
   */
  beginRun(input: { tool: RunTool; host?: string; pid?: number; keep?: number }): Promise<RunRecorder>;
  /** Newest first; `limit` default 20. */
  listRuns(filter?: { limit?: number; tool?: RunTool }): Promise<RunRecord[]>;
  /** One run with its items in the order recorded. */
  getRun(id: number): Promise<(RunRecord & { items: RunItem[] }) | undefined>;
  /** The totals of every tool and outcome that ran at least once. */
  runTotals(): Promise<RunTotal[]>;
}
