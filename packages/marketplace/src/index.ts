// Public API of @hepix/marketplace: named re-exports only.
export { type CliIo, runMarketplaceCli, USAGE } from './cli/main.js';
export { EXIT, exitStatusOf } from './cli/exit.js';
export {
  decideIngest,
  type IngestDecision,
  type IngestRefusalCode,
  type MarketListFacts,
} from './decide.js';
export {
  deprecationReason,
  type EndorserRef,
  type ImageFields,
  type ImageRecord,
  imageLocations,
  isHttpUrl,
  type ListRecord,
  listRecord,
  MAX_LOCATIONS,
} from './entries.js';
export {
  MARKETPLACE_ERROR_CODES,
  MARKETPLACE_HTTP_STATUS,
  MarketplaceError,
  type MarketplaceErrorCode,
  type MarketplaceErrorContext,
} from './errors.js';
export {
  compileEndorserPatterns,
  createIngester,
  DEFAULT_MAX_LIST_BYTES,
  type Ingester,
  type IngestOptions,
  type IngestResult,
} from './ingest.js';
export { httpsTrust } from './remote.js';
export { type ReplicaOptions, type ReplicaSyncResult, syncFromPrimary } from './replica.js';
export {
  CONTENT_SECURITY_POLICY,
  createMarketplaceApp,
  MARKETPLACE_VERSION,
  type MarketplaceAppOptions,
} from './server/app.js';
export { escapeHtml } from './server/html.js';
export { openApiDocument } from './server/openapi.js';
export {
  DEFAULT_CERT_DIR,
  DEFAULT_DB_URL,
  DEFAULT_LISTEN,
  DEFAULT_REPLICA_INTERVAL_SECONDS,
  type MarketplaceServer,
  type MarketplaceServerOptions,
  parseListen,
  startMarketplace,
} from './server.js';
export {
  clampPage,
  DEFAULT_PAGE_SIZE,
  type EndorserSummary,
  type ImageDetail,
  type ImageHistoryEntry,
  type ImageItem,
  type ImageQuery,
  type ImageStatus,
  type ListDetail,
  type ListStatus,
  type ListSummary,
  type ListVersionEntry,
  MAX_PAGE_SIZE,
  type MarketplaceRepository,
  marketplaceExtension,
  type Page,
  type SaveListInput,
} from './store.js';
export {
  type CrlPolicy,
  type OpenedList,
  type OpenMarketplaceListOptions,
  openMarketplaceList,
} from './verify.js';
