// A list fetch of `-U` under the transfer limits of ../deadlines.ts: fetchList of @hepix/imagelist-client with
// an absolute deadline (the transport fails the whole request after it: ERR_LIST_DEADLINE) and a rate watch
// over the body. The watch needs the byte count, which fetchList does not expose, so the transport handed to it
// counts the body on its way through.
import { pipeline, Transform } from 'node:stream';
import { type FetchedList, type FetchListOptions, fetchList } from '@hepix/imagelist-client';
import type { Transport } from '@hepix/transport';
import { ImageCacheError } from '../cache/errors.js';
import { type TransferLimits, transferDeadline, watchRate } from '../deadlines.js';

/** `inner`, with every response body counted into `add` (errors and destruction pass through both ways). */
function countingTransport(inner: Transport, add: (bytes: number) => void): Transport {
  return {
    async request(url, options) {
      const res = await inner.request(url, options);
      const counted = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          add(chunk.length);
          done(null, chunk);
        },
      });
      // pipeline destroys `counted` with the body's own error (a TransportError), and the body when `counted`
      // is destroyed by the reader.
      pipeline(res.body, counted, () => {});
      return { ...res, body: counted };
    },
    close: () => inner.close(),
  };
}

/**
 * Fetches one list within `limits`. Throws what fetchList throws (ListClientError: ERR_LIST_DEADLINE past the
 * deadline), or ImageCacheError `ERR_SUB_TOO_SLOW` (its cause: the fetch error) when the rate fell below the
 * minimum. Deadlines are wall-clock time, whatever clock decides list validity.
 */
export async function fetchWithinLimits(
  transport: Transport,
  url: string,
  options: Omit<FetchListOptions, 'deadline' | 'signal'> & { limits: TransferLimits },
): Promise<FetchedList> {
  const { limits, ...fetchOptions } = options;
  const deadline = transferDeadline(limits, Date.now());
  if (url.startsWith('file:')) return fetchList(transport, url, { ...fetchOptions, deadline });
  const watch = watchRate(limits);
  try {
    return await fetchList(
      countingTransport(transport, (n) => watch.add(n)),
      url,
      { ...fetchOptions, deadline, signal: watch.signal },
    );
  } catch (err) {
    const slow = watch.slow;
    if (slow) {
      throw new ImageCacheError(
        'ERR_SUB_TOO_SLOW',
        `Download of '${url}' abandoned: ${slow.bytes} bytes in the last ${Math.round(slow.seconds)} s, below the minimum rate of ${limits.minRate} bytes/s`,
        { uri: url, cause: err },
      );
    }
    throw err;
  } finally {
    watch.stop();
  }
}
