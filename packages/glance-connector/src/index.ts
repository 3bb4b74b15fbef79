// Public API of @hepix/glance-connector: named re-exports only.
export {
  type CloudAuth,
  type CloudConfig,
  cloudFromEntry,
  defaultCloudsFiles,
  type EndpointInterface,
  entryFromEnv,
  type ProjectScope,
  type ResolveCloudOptions,
  resolveCloud,
} from './cloud.js';
export { type ConnectorConfig, loadConnectorConfig, parseConnectorConfig, parseSize } from './config.js';
export {
  type ActionResult,
  createGlanceConnector,
  type GlanceConnector,
  type GlanceConnectorOptions,
  type SyncOptions,
  type SyncReport,
} from './connector.js';
export {
  GLANCE_ERROR_CODES,
  GlanceConnectorError,
  type GlanceErrorCode,
  type GlanceErrorContext,
  INGEST_REFUSAL_CODES,
} from './errors.js';
export {
  architecture,
  CONVERTED_SHA512_PROPERTY,
  factsFromInstance,
  factsFromMetadata,
  IDENTIFIER_PROPERTY,
  type ImageFacts,
  imageName,
  LIST_PROPERTY_KEYS,
  listProperties,
  minDiskGiB,
  minRamMiB,
  osDistro,
  osVersion,
  SHA512_PROPERTY,
  SOURCE_FORMAT_PROPERTY,
} from './facts.js';
export {
  createGlanceClient,
  type GlanceClient,
  type GlanceImage,
  type GlanceMember,
  type JsonPatchOp,
} from './glance.js';
export {
  createHttpClient,
  discard,
  type HttpClient,
  type HttpClientOptions,
  type HttpRequest,
  type HttpResponse,
  readJson,
  readText,
} from './http.js';
export {
  type ContentKind,
  type Compression,
  type DeclaredFormat,
  DISK_FORMATS,
  type DiskFormat,
  detectContent,
  parseDeclaredFormat,
  parseQcow2Header,
  type Qcow2Header,
} from './ingest/formats.js';
export { type IngestInput, type IngestOptions, type PreparedImage, prepareImage } from './ingest/ingest.js';
export {
  createSandbox,
  type CreateSandboxOptions,
  type ResourceLimits,
  type Sandbox,
  type SandboxMode,
  type SandboxResult,
  type SandboxSpec,
} from './ingest/sandbox.js';
export {
  authenticate,
  createSession,
  imageEndpointFromCatalog,
  type KeystoneToken,
  type Session,
  tokenRequestBody,
} from './keystone.js';
export {
  DEFAULT_MAPPING,
  loadMapping,
  type Mapping,
  type MappingRule,
  parseMapping,
  resolveTarget,
  type Target,
  type Visibility,
} from './mapping.js';
export type { ObjectSourceOptions } from './objects.js';
export {
  type DesiredImage,
  describeAction,
  type ManagedImage,
  metadataPatch,
  type PlanOptions,
  planSync,
  type SyncAction,
} from './plan.js';
