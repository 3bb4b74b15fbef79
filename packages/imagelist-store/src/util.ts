/** Times are stored as UTC ISO-8601 text (`2026-01-02T03:04:05.000Z`) on both dialects: sortable and readable. */
export function toDb(d: Date): string {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new TypeError('invalid date');
  return d.toISOString();
}

export function fromDb(s: string): Date;
export function fromDb(s: string | null | undefined): Date | undefined;
export function fromDb(s: string | null | undefined): Date | undefined {
  if (s === null || s === undefined) return undefined;
  return new Date(s);
}

export function toBool(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 1n;
}

export function toNum(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

export function toBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  throw new TypeError('not binary data');
}

/** Publisher metadata as stored: a JSON object of strings with its keys sorted, so equal metadata is equal text. */
export function encodeMetadata(metadata: Record<string, string>): string {
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(metadata).sort()) sorted[k] = metadata[k];
  return JSON.stringify(sorted);
}
