// The policy file: INI as Python's configparser reads it (StratusLab's policy.cfg was read with it), with
// the rules made strict. Every line is a section header, a `key = value` (or `key: value`) line, an
// indented continuation of the previous key, a comment or blank; anything else is an error naming the line,
// as is an unknown section or key, a duplicate, or a value of the wrong form. Nothing is silently ignored.
import { escapeControl } from '@hepix/common';
import { internal, SitePolicyError, type SitePolicyErrorCode } from './errors.js';
import { type DeprecatedAction, deepFreeze, patternProblem, type SitePolicy } from './policy.js';
import {
  type Parsed,
  parseAge,
  parseChecksum,
  parseDeprecated,
  parseFormat,
  parseIdentifier,
  parseSize,
} from './values.js';

export interface ParsePolicyOptions {
  /** Names the text in errors and becomes the policy's `source` (default in messages: `policy.cfg`). */
  source?: string;
}

/** The canonical keys of each section, and the spellings accepted for them. */
const SECTIONS: Record<string, Record<string, string>> = {
  endorsers: {
    allow: 'allow',
    deny: 'deny',
    whitelist: 'allow',
    blacklist: 'deny',
    whitelistendorsers: 'allow',
    blacklistendorsers: 'deny',
  },
  images: {
    allow: 'allow',
    deny: 'deny',
    whitelist: 'allow',
    blacklist: 'deny',
    whitelistimages: 'allow',
    blacklistimages: 'deny',
  },
  checksums: {
    allow: 'allow',
    deny: 'deny',
    whitelist: 'allow',
    blacklist: 'deny',
    whitelistchecksums: 'allow',
    blacklistchecksums: 'deny',
  },
  limits: {
    formats: 'formats',
    'max-size': 'max-size',
    deprecated: 'deprecated',
    'max-list-age': 'max-list-age',
  },
};

const KNOWN_KEYS: Record<string, string> = {
  endorsers: 'allow, deny (or whitelist, blacklist)',
  images: 'allow, deny (or whitelist, blacklist)',
  checksums: 'allow, deny (or whitelist, blacklist)',
  limits: 'formats, max-size, deprecated, max-list-age',
};

interface Value {
  text: string;
  line: number;
}

interface Entry {
  section: string;
  /** The key as written (lower case). */
  key: string;
  line: number;
  values: Value[];
}

class Reader {
  readonly label: string;

  constructor(readonly source: string | undefined) {
    this.label = source ?? 'policy.cfg';
  }

  error(
    code: SitePolicyErrorCode,
    line: number,
    text: string,
    what: string,
    at: { section?: string; key?: string } = {},
  ): SitePolicyError {
    return new SitePolicyError(code, `${this.label}:${line}: ${what}`, {
      ...(this.source !== undefined ? { source: this.source } : {}),
      line,
      text,
      ...at,
    });
  }
}

/** Decodes UTF-8 strictly; a bad byte is an error on its line. */
function decode(bytes: Uint8Array, reader: Reader): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    let line = 1;
    const lenient = new TextDecoder('utf-8').decode(bytes);
    const bad = lenient.indexOf('\ufffd');
    for (let i = 0; i < bad; i++) if (lenient[i] === '\n') line++;
    const text = lenient.split(/\r\n|\n|\r/)[line - 1] ?? '';
    throw reader.error('ERR_POLICY_SYNTAX', line, text, 'not valid UTF-8');
  }
}

/** Cuts an inline comment: `;` or `#` after white space (configparser's inline_comment_prefixes). */
function stripInlineComment(text: string): string {
  const m = /\s[;#]/.exec(text);
  return m ? text.slice(0, m.index) : text;
}

function quoted(text: string): string {
  return escapeControl(JSON.stringify(text));
}

/**
 * Parses a policy file (text, or bytes decoded as UTF-8) into a frozen {@link SitePolicy}. Throws a
 * {@link SitePolicyError} with `source`, `line` (1-based) and the offending `text` for the first problem.
 */
export function parsePolicy(input: string | Uint8Array, options: ParsePolicyOptions = {}): SitePolicy {
  const reader = new Reader(options.source);
  return internal(`${reader.label}: parsing the policy`, () => {
    if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
      throw new SitePolicyError('ERR_POLICY_INPUT', 'parsePolicy: the policy is neither text nor bytes');
    }
    let text = typeof input === 'string' ? input : decode(input, reader);
    if (text.startsWith('\ufeff')) text = text.slice(1);
    const entries = readEntries(text, reader);
    return build(entries, reader);
  });
}

function readEntries(text: string, reader: Reader): Map<string, Entry> {
  const lines = text.split(/\r\n|\n|\r/);
  const sections = new Map<string, number>();
  const entries = new Map<string, Entry>();
  let section: string | undefined;
  let open: Entry | undefined;
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(raw)) {
      throw reader.error('ERR_POLICY_SYNTAX', line, raw, `control character in ${quoted(raw)}`);
    }
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith(';') || trimmed.startsWith('#')) return;
    const content = stripInlineComment(raw).trim();
    if (/^\s/.test(raw)) {
      // Indented: continues the value of the key above it (blank lines and comments in between allowed).
      if (!open) {
        throw reader.error(
          'ERR_POLICY_SYNTAX',
          line,
          raw,
          `indented line ${quoted(trimmed)} continues no key (only values are indented)`,
        );
      }
      if (content !== '') open.values.push({ text: content, line });
      return;
    }
    if (content.startsWith('[')) {
      const m = /^\[([^\]]*)\]$/.exec(content);
      if (!m || m[1].trim() === '') {
        throw reader.error('ERR_POLICY_SYNTAX', line, raw, `bad section header ${quoted(content)}`);
      }
      const name = m[1].trim().toLowerCase();
      if (!SECTIONS[name]) {
        const hint =
          name === 'validatemetadatafile'
            ? ' (StratusLab: signatures and checksums are always verified here and cannot be turned off)'
            : '';
        throw reader.error(
          'ERR_POLICY_UNKNOWN_SECTION',
          line,
          raw,
          `unknown section [${m[1].trim()}]: expected [endorsers], [images], [checksums] or [limits]${hint}`,
          { section: name },
        );
      }
      const first = sections.get(name);
      if (first !== undefined) {
        throw reader.error(
          'ERR_POLICY_DUPLICATE',
          line,
          raw,
          `section [${name}] again (first at line ${first})`,
          {
            section: name,
          },
        );
      }
      sections.set(name, line);
      section = name;
      open = undefined;
      return;
    }
    const m = /^([^=:]*?)\s*[=:]\s*(.*)$/.exec(content);
    if (!m || m[1] === '') {
      throw reader.error(
        'ERR_POLICY_SYNTAX',
        line,
        raw,
        `expected [section], key = value or a comment: ${quoted(content)}`,
      );
    }
    const key = m[1].toLowerCase();
    if (!/^[a-z][a-z0-9_-]*$/.test(key)) {
      throw reader.error('ERR_POLICY_SYNTAX', line, raw, `bad key ${quoted(m[1])}`);
    }
    if (section === undefined) {
      throw reader.error('ERR_POLICY_SYNTAX', line, raw, `key ${m[1]} before any [section]`, { key });
    }
    const canonical = SECTIONS[section][key];
    if (canonical === undefined) {
      throw reader.error(
        'ERR_POLICY_UNKNOWN_KEY',
        line,
        raw,
        `[${section}] unknown key ${quoted(m[1])}: expected ${KNOWN_KEYS[section]}`,
        { section, key },
      );
    }
    const id = `${section}.${canonical}`;
    const previous = entries.get(id);
    if (previous) {
      const same = previous.key === key ? `${key}` : `${key} (the same as ${previous.key})`;
      throw reader.error(
        'ERR_POLICY_DUPLICATE',
        line,
        raw,
        `[${section}] ${same} again (first at line ${previous.line}): give every value under one key, one per line`,
        { section, key },
      );
    }
    open = { section, key, line, values: m[2] === '' ? [] : [{ text: m[2], line }] };
    entries.set(id, open);
  });
  return entries;
}

function build(entries: Map<string, Entry>, reader: Reader): SitePolicy {
  const fault = (code: SitePolicyErrorCode, entry: Entry, v: Value, why: string) =>
    reader.error(code, v.line, v.text, `[${entry.section}] ${entry.key} ${quoted(v.text)}: ${why}`, {
      section: entry.section,
      key: entry.key,
    });
  const each = <T>(
    entry: Entry,
    check: (s: string) => Parsed<T>,
    code: SitePolicyErrorCode = 'ERR_POLICY_VALUE',
  ) =>
    entry.values.map((v) => {
      const r = check(v.text);
      if (!r.ok) throw fault(code, entry, v, r.why);
      return r.value;
    });
  const one = <T>(entry: Entry, check: (s: string) => Parsed<T>): T | undefined => {
    if (entry.values.length > 1) {
      throw fault('ERR_POLICY_VALUE', entry, entry.values[1], `a second value: ${entry.key} takes one`);
    }
    return each(entry, check)[0];
  };
  const pattern = (s: string): Parsed<string> => {
    const p = patternProblem(s);
    return p
      ? { ok: false, why: `not a supported regular expression: ${p.why} (at character ${p.index + 1})` }
      : { ok: true, value: s };
  };
  const lists: Record<string, string[]> = {};
  let maxSizeBytes: number | undefined;
  let maxListAgeSeconds: number | undefined;
  let deprecated: DeprecatedAction = 'refuse';
  // In file order, so that the error reported is the first one in the file.
  for (const [id, entry] of entries) {
    switch (id) {
      case 'endorsers.allow':
      case 'endorsers.deny':
        lists[id] = each(entry, pattern, 'ERR_POLICY_REGEX');
        break;
      case 'images.allow':
      case 'images.deny':
        lists[id] = each(entry, parseIdentifier);
        break;
      case 'checksums.allow':
      case 'checksums.deny':
        lists[id] = each(entry, parseChecksum);
        break;
      case 'limits.formats':
        // Several on a line: `formats = qcow2 raw ova` (white space or commas between them).
        lists[id] = each(
          {
            ...entry,
            values: entry.values.flatMap((v) =>
              v.text
                .split(/[\s,]+/)
                .filter((t) => t !== '')
                .map((t) => ({ text: t, line: v.line })),
            ),
          },
          parseFormat,
        );
        break;
      case 'limits.max-size':
        maxSizeBytes = one(entry, parseSize);
        break;
      case 'limits.max-list-age':
        maxListAgeSeconds = one(entry, parseAge);
        break;
      case 'limits.deprecated':
        deprecated = one(entry, parseDeprecated) ?? 'refuse';
        break;
      default:
        throw new Error(`no rule for ${id}`);
    }
  }
  const get = (id: string) => lists[id] ?? [];
  return deepFreeze({
    ...(reader.source !== undefined ? { source: reader.source } : {}),
    endorsers: { allow: get('endorsers.allow'), deny: get('endorsers.deny') },
    images: { allow: get('images.allow'), deny: get('images.deny') },
    checksums: { allow: get('checksums.allow'), deny: get('checksums.deny') },
    limits: {
      formats: get('limits.formats'),
      ...(maxSizeBytes !== undefined ? { maxSizeBytes } : {}),
      deprecated,
      ...(maxListAgeSeconds !== undefined ? { maxListAgeSeconds } : {}),
    },
  });
}
