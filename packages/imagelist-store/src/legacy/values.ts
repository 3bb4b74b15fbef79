// Values as the originals stored them (SQLAlchemy on SQLite or PostgreSQL), read into the store's forms.

/** SQLAlchemy's naive-UTC DATETIME text (`2014-03-01 12:00:00.123456`) as UTC ISO text. */
export function legacyTime(v: unknown): string | null {
  if (v === null || v === undefined || v === '') return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number') return new Date(v).toISOString();
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]\d{2}(?::?\d{2})?)?$/.exec(
    String(v).trim(),
  );
  if (!m) {
    const d = new Date(String(v));
    return Number.isNaN(d.getTime()) ? null : d.toISOString();
  }
  const secs = m[2].length === 5 ? `${m[2]}:00` : m[2];
  const frac = (m[3] ?? '.000').slice(0, 4).padEnd(4, '0');
  const z = m[4];
  const zone =
    z === undefined
      ? 'Z'
      : /^[+-]\d{2}$/.test(z)
        ? `${z}:00`
        : /^[+-]\d{4}$/.test(z)
          ? `${z.slice(0, 3)}:${z.slice(3)}`
          : z;
  return new Date(`${m[1]}T${secs}${frac}${zone}`).toISOString();
}

export function bool(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 't' || v === 'true';
}

export function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return String(v);
}

export function num(v: unknown): number | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * The signed content of a stored S/MIME message, decoded as JSON (not verified: it was verified when it was
 * fetched). Returns undefined when it cannot be found.
 */
export function decodeStoredList(data: Uint8Array): Record<string, unknown> | undefined {
  const text = Buffer.from(data).toString('utf8');
  const tryParse = (s: string) => {
    try {
      const v = JSON.parse(s) as unknown;
      return typeof v === 'object' && v !== null && !Array.isArray(v)
        ? (v as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  };
  const direct = tryParse(text);
  if (direct) return direct;
  const b = /boundary="?([^";\r\n]+)"?/i.exec(text);
  if (b) {
    const parts = text.split(`--${b[1]}`);
    if (parts.length > 2) {
      const part = parts[1];
      const sep = /\r?\n\r?\n/.exec(part);
      const body = sep ? part.slice(sep.index + sep[0].length) : part;
      const parsed = tryParse(body) ?? tryParse(part);
      if (parsed) return parsed;
    }
  }
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  return start >= 0 && end > start ? tryParse(text.slice(start, end + 1)) : undefined;
}

export function unwrap(doc: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!doc) return undefined;
  const inner = doc['hv:imagelist'];
  return typeof inner === 'object' && inner !== null && !Array.isArray(inner)
    ? (inner as Record<string, unknown>)
    : doc;
}
