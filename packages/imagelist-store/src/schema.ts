// Row types of the store's tables, for kysely. Times are UTC ISO text; booleans are 0/1 integers on both
// dialects; `Generated` marks columns the database fills.
import type { Generated, Kysely, Transaction } from 'kysely';

export interface StoreMetaTable {
  key: string;
  value: string;
}

/** Leases behind `withLock` (0004): times are the database's clock as UTC ISO text. */
export interface StoreLeaseTable {
  name: string;
  /** A random token of the holding `acquire` call. */
  owner: string;
  host: string;
  pid: number;
  acquired: string;
  heartbeat: string;
  expires: string;
}

/** `metadata` is a JSON object of strings. */
export interface PubEndorserTable {
  id: Generated<number>;
  dn: string;
  metadata: string;
}
export interface PubImagelistTable {
  id: Generated<number>;
  identifier: string;
  metadata: string;
  updated: string | null;
}
export interface PubImageTable {
  id: Generated<number>;
  identifier: string;
  metadata: string;
}
export interface PubBindingTable {
  id: Generated<number>;
  imagelist_id: number;
  member_id: number;
}

export interface SubEndorserTable {
  id: Generated<number>;
  identifier: string;
}
export interface SubPrincipalTable {
  id: Generated<number>;
  endorser_id: number;
  subject: string;
  issuer: string;
}
export interface SubSubscriptionTable {
  id: Generated<number>;
  identifier: string;
  description: string;
  uri: string;
  authorised: number;
  trust_anchor: string;
  update_mode: number;
  updated: string | null;
  latest_list_id: number | null;
  /** 0007: the last update attempt, the last successful one, and the last failure (kept after a success). */
  last_attempt: string | null;
  last_success: string | null;
  last_error_at: string | null;
  last_error_code: string | null;
  last_error: string | null;
}
export interface SubCredentialTable {
  subscription_id: number;
  username: string | null;
  password: string | null;
}
export interface SubLinkTable {
  id: Generated<number>;
  endorser_id: number;
  subscription_id: number;
  authorised: number;
}
export interface SubImagelistTable {
  id: Generated<number>;
  subscription_id: number;
  data: Uint8Array;
  data_hash: string;
  imported: string;
  created: string;
  expires: string;
  version: string;
  expired: string | null;
  /** Set (with code and reason) when the list's endorsement was withdrawn: trust or authorisation gone. */
  withdrawn: string | null;
  withdrawn_code: string | null;
  withdrawn_reason: string | null;
  signer_subject: string;
  signer_issuer: string;
  metadata: string;
}
export interface SubImageDefinitionTable {
  id: Generated<number>;
  subscription_id: number;
  identifier: string;
  cache: number;
  latest_instance_id: number | null;
}
export interface SubImageInstanceTable {
  id: Generated<number>;
  definition_id: number;
  imagelist_id: number;
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
  size: number | string;
  comments: string;
  format: string | null;
  image: string;
}
export interface SubFailedEventTable {
  id: Generated<number>;
  recorded: string;
  type: string;
  payload: string;
  error: string;
  attempts: number;
  /** Set when the event was moved to the dead-letter list (0005). */
  dead: string | null;
}

/** One `vmcatcher_subscribe -U` or `vmcatcher_cache` run (0007); `ended` is null while it runs (or after a crash). */
export interface SubRunTable {
  id: Generated<number>;
  tool: string;
  host: string;
  pid: number;
  started: string;
  ended: string | null;
  outcome: string | null;
  exit_status: number | null;
  /** A JSON object of counters (`updated`, `rejected`, `downloaded`, …). */
  counts: string;
  bytes: number | string;
}
export interface SubRunItemTable {
  id: Generated<number>;
  run_id: number;
  subscription: string | null;
  uri: string | null;
  image: string | null;
  action: string;
  code: string | null;
  message: string | null;
  at: string;
}
/** Runs and bytes per tool and outcome since the store was created: never pruned. */
export interface SubRunTotalTable {
  tool: string;
  outcome: string;
  runs: number | string;
  bytes: number | string;
}

/** Work claims (0008): a row lease per piece of work; `owner` '' when free. */
export interface StoreWorkClaimTable {
  kind: string;
  item: string;
  owner: string;
  host: string;
  pid: number;
  claimed: string;
  expires: string;
  done: string | null;
}

export interface Database {
  store_meta: StoreMetaTable;
  store_lease: StoreLeaseTable;
  store_work_claim: StoreWorkClaimTable;
  pub_endorser: PubEndorserTable;
  pub_imagelist: PubImagelistTable;
  pub_image: PubImageTable;
  pub_imagelist_endorser: PubBindingTable;
  pub_imagelist_image: PubBindingTable;
  sub_endorser: SubEndorserTable;
  sub_principal: SubPrincipalTable;
  sub_subscription: SubSubscriptionTable;
  sub_credential: SubCredentialTable;
  sub_link: SubLinkTable;
  sub_imagelist: SubImagelistTable;
  sub_image_definition: SubImageDefinitionTable;
  sub_image_instance: SubImageInstanceTable;
  sub_failed_event: SubFailedEventTable;
  sub_run: SubRunTable;
  sub_run_item: SubRunItemTable;
  sub_run_total: SubRunTotalTable;
}

// Kysely's own spelling for an instance whose tables are chosen at run time (migrations, generic helpers over
// several tables of the same shape). Only these two aliases use `any`.
// biome-ignore lint/suspicious/noExplicitAny: see above
export type AnyKysely = Kysely<any>;
// biome-ignore lint/suspicious/noExplicitAny: see above
export type AnyTransaction = Transaction<any>;
