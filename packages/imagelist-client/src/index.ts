// Public API of @hepix/imagelist-client: named re-exports only.
export {
  type DecideUpdateOptions,
  decideUpdate,
  type ListFacts,
  notOlder,
  type RefusalCode,
  type UpdateDecision,
} from './decide.js';
export {
  DEFAULT_MAX_LIST_BYTES,
  type FetchedList,
  type FetchListOptions,
  fetchList,
  type ParsedListUrl,
  parseListUrl,
} from './fetch.js';
export {
  LIST_CLIENT_ERROR_CODES,
  ListClientError,
  type ListClientErrorCode,
  type ListClientErrorContext,
} from './errors.js';
export { type CrlPolicy, metadataString, type OpenedList, type OpenListOptions, openList } from './open.js';
