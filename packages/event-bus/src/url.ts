import { EventBusError } from './errors.js';

/** The broker URL with its password replaced by `***`, for messages and logs. */
export function redactAmqpUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  }
}

/** Refuses anything but `amqp://` and `amqps://` URLs (`ERR_EVENTBUS_CONFIG`). */
export function checkAmqpUrl(url: string): void {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {}
  if (!u || (u.protocol !== 'amqp:' && u.protocol !== 'amqps:') || !u.hostname) {
    throw new EventBusError(
      'ERR_EVENTBUS_CONFIG',
      `'${redactAmqpUrl(url)}' is not an amqp:// or amqps:// URL`,
    );
  }
}

/** Maps a connection failure of amqplib to an EventBusError (ECONNREFUSED, ACCESS_REFUSED, …). */
export function connectError(err: unknown, url: string, what: string): EventBusError {
  if (err instanceof EventBusError) return err;
  const e = (err ?? {}) as { code?: string | number; message?: string };
  const message = e.message ?? String(err);
  const shown = redactAmqpUrl(url);
  // amqplib reports a refused login as a closed connection with 403 ACCESS_REFUSED (or a SASL failure), and an
  // unknown vhost as 530 NOT_ALLOWED.
  if (
    e.code === 403 ||
    /ACCESS_REFUSED|ACCESS-REFUSED|NOT_ALLOWED|Handshake terminated by server: 403|530/.test(message)
  ) {
    return new EventBusError('ERR_EVENTBUS_AUTH', `${what} ${shown}: refused by the broker (${message})`, {
      url: shown,
      detail: typeof e.code === 'string' ? e.code : 'ACCESS_REFUSED',
      cause: err,
    });
  }
  return new EventBusError('ERR_EVENTBUS_CONNECT', `${what} ${shown}: ${message}`, {
    url: shown,
    detail: typeof e.code === 'string' ? e.code : undefined,
    cause: err,
  });
}

/**
 * Maps a failure while setting up a channel: a refusal of the broker (406 PRECONDITION_FAILED for an exchange or
 * queue declared with other arguments, 404, …) is `ERR_EVENTBUS_REFUSED`; anything else as {@link connectError}.
 */
export function setupError(err: unknown, url: string, what: string): EventBusError {
  if (err instanceof EventBusError) return err;
  const e = (err ?? {}) as { code?: unknown; message?: string };
  if (typeof e.code === 'number' && e.code >= 400 && e.code !== 403) {
    return new EventBusError(
      'ERR_EVENTBUS_REFUSED',
      `${what} ${redactAmqpUrl(url)}: ${e.message ?? String(err)}`,
      {
        url: redactAmqpUrl(url),
        detail: String(e.code),
        cause: err,
      },
    );
  }
  return connectError(err, url, what);
}
