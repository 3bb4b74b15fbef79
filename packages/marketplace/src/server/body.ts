// Request bodies: read with the size cap enforced while reading (a declared Content-Length above the cap is
// refused before anything is read), then turned into the signed message the verifier takes.
import { MarketplaceError } from '../errors.js';

/** Room for the form's own parts around the file of a browser upload. */
export const FORM_OVERHEAD_BYTES = 64 * 1024;

function tooLarge(max: number): MarketplaceError {
  return new MarketplaceError('ERR_MARKET_TOO_LARGE', `the request body is larger than ${max} bytes`);
}

export async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  max: number,
  declaredLength?: string | null,
): Promise<Uint8Array> {
  if (declaredLength && /^\d+$/.test(declaredLength) && Number(declaredLength) > max) {
    await body?.cancel().catch(() => {});
    throw tooLarge(max);
  }
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw tooLarge(max);
    }
    parts.push(value);
  }
  return new Uint8Array(Buffer.concat(parts, total));
}

/** True when the bytes start with a MIME header line (`Content-Type: …`, `MIME-Version: …`). */
function hasMimeHeaders(data: Uint8Array): boolean {
  const head = Buffer.from(data.subarray(0, 256)).toString('latin1');
  return /^[A-Za-z][A-Za-z0-9-]*:[^\r\n]*\r?\n/.test(head);
}

function withHeaders(headers: string, data: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from(headers, 'latin1'), data]));
}

/** The first file of a multipart/form-data body (field `list` preferred). */
async function formFile(contentType: string, data: Uint8Array): Promise<Uint8Array> {
  let form: FormData;
  try {
    form = await new Response(data, { headers: { 'content-type': contentType } }).formData();
  } catch (cause) {
    throw new MarketplaceError('ERR_MARKET_BAD_REQUEST', 'the form data cannot be parsed', { cause });
  }
  const preferred = form.get('list');
  const file =
    preferred !== null && typeof preferred !== 'string'
      ? preferred
      : [...form.values()].find((v): v is File => typeof v !== 'string');
  if (!file) {
    if (typeof preferred === 'string' && preferred !== '') return new TextEncoder().encode(preferred);
    throw new MarketplaceError('ERR_MARKET_BAD_REQUEST', 'the form has no signed list file (field "list")');
  }
  return new Uint8Array(await file.arrayBuffer());
}

/**
 * The signed message in a request body: a whole S/MIME file as is; a `multipart/signed` or `pkcs7-mime` body
 * sent without its MIME header gets the request's Content-Type as its header (so the stored bytes verify on
 * their own); a form upload gives its file.
 */
export async function signedMessage(contentType: string | undefined, data: Uint8Array): Promise<Uint8Array> {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'multipart/form-data') return formFile(contentType!, data);
  if (data.byteLength === 0)
    throw new MarketplaceError('ERR_MARKET_BAD_REQUEST', 'the request body is empty');
  if (hasMimeHeaders(data)) return data;
  const header = (contentType ?? '').replace(/[\r\n]/g, ' ');
  if (type === 'multipart/signed')
    return withHeaders(`MIME-Version: 1.0\r\nContent-Type: ${header}\r\n\r\n`, data);
  if (type === 'application/pkcs7-mime' || type === 'application/x-pkcs7-mime') {
    if (data[0] === 0x30) return data; // DER
    if (Buffer.from(data.subarray(0, 32)).toString('latin1').startsWith('-----BEGIN')) return data; // PEM
    return withHeaders(
      `MIME-Version: 1.0\r\nContent-Type: ${header}\r\nContent-Transfer-Encoding: base64\r\n\r\n`,
      data,
    );
  }
  return data;
}
