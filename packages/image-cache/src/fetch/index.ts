export {
  fetchImageList,
  ListFetcher,
  parseListUrl,
  redactUrl,
  type FetchedList,
  type FetchListOptions,
  type FetchLogger,
  type ListFetcherOptions,
  type ParsedListUrl,
  type TlsTrustMode,
} from './fetch.js';
