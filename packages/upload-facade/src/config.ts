import { readFile } from 'node:fs/promises';
import { UploadError } from './errors.js';

/** One upload section of the vmcaster INI file. */
export interface UploadConfigSection {
  /** The INI section name (irrelevant for selection, used in messages). */
  name: string;
  /** Host name of the public `hv:uri` this section serves (compared lowercased). */
  server: string;
  /** Backend name: `local`, `scp`, `sftp`, `http`, `webdav`, `command`, `gsidcap`, `egiappdb`, or a custom one. */
  protocol: string;
  /** Regex (Python syntax accepted) matched against the public URI. */
  uriMatch: string;
  /** Replacement (Python `\1` / `\g<name>` syntax accepted) giving the remote target. */
  uriReplace: string;
  /** Every other key of the section, JSON-decoded (backend options such as `knownHosts`). */
  options: Record<string, unknown>;
}

/** A parsed vmcaster upload configuration. */
export interface UploadConfig {
  /** File the config was read from, for messages. */
  file?: string;
  sections: UploadConfigSection[];
  /** Non-fatal findings (deprecated keys, duplicate servers), also logged by the facade. */
  warnings?: string[];
}

const REQUIRED = ['server', 'protocol', 'uriMatch', 'uriReplace'] as const;
const LEGACY: Record<string, (typeof REQUIRED)[number]> = {
  writeprotocol: 'protocol',
  readprefix: 'uriMatch',
  writeprefix: 'uriReplace',
};

interface RawSection {
  name: string;
  line: number;
  entries: { key: string; value: string; line: number }[];
}

function configError(msg: string, file: string | undefined, section?: string, key?: string, line?: number) {
  const where = [
    file ?? '<config>',
    line !== undefined ? `line ${line}` : undefined,
    section !== undefined ? `section [${section}]` : undefined,
    key !== undefined ? `key "${key}"` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  return new UploadError('ERR_UPLOAD_CONFIG', `${where}: ${msg}`, { file, section, key });
}

/** Splits INI text into sections (ConfigParser rules: `key = value` or `key: value`, `#`/`;` comments,
 *  indented continuation lines, a `[DEFAULT]` section applied to all others). A uniformly indented file (as
 *  copied from the vmcaster README) is dedented first. */
function splitIni(text: string, file: string | undefined): { sections: RawSection[]; defaults: RawSection } {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^[ \t]*/.exec(l)![0].length);
  const common = indents.length ? Math.min(...indents) : 0;
  const sections: RawSection[] = [];
  const defaults: RawSection = { name: 'DEFAULT', line: 0, entries: [] };
  let cur: RawSection | undefined;
  let last: { value: string } | undefined;
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.slice(common);
    const trimmed = line.trim();
    if (trimmed === '') {
      last = undefined;
      return;
    }
    if (/^[#;]/.test(trimmed) || /^rem(\s|$)/i.test(trimmed)) return;
    if (/^[ \t]/.test(line)) {
      if (!last)
        throw configError('indented line without a key to continue', file, cur?.name, undefined, lineNo);
      last.value += `\n${trimmed}`;
      return;
    }
    const head = /^\[([^\]]+)\]\s*(?:[#;].*)?$/.exec(trimmed);
    if (head) {
      const name = head[1].trim();
      if (name === 'DEFAULT') cur = defaults;
      else {
        cur = sections.find((s) => s.name === name);
        if (!cur) {
          cur = { name, line: lineNo, entries: [] };
          sections.push(cur);
        }
      }
      last = undefined;
      return;
    }
    const kv = /^([^=:\s][^=:]*?)\s*[=:]\s*(.*)$/.exec(trimmed);
    if (!kv)
      throw configError(`cannot parse line ${JSON.stringify(trimmed)}`, file, cur?.name, undefined, lineNo);
    if (!cur) throw configError('key before the first [section] header', file, undefined, kv[1], lineNo);
    const entry = { key: kv[1], value: kv[2], line: lineNo };
    // ConfigParser: a repeated key in a section replaces the earlier one; keys are case-insensitive.
    cur.entries = cur.entries.filter((e) => e.key.toLowerCase() !== entry.key.toLowerCase());
    cur.entries.push(entry);
    last = entry;
  });
  return { sections, defaults };
}

/**
 * Parses the vmcaster upload configuration: INI whose values are JSON. Sections need `server`, `protocol`,
 * `uriMatch` and `uriReplace` (legacy `writeprotocol`, `readprefix`, `writeprefix` are accepted with a
 * warning); every other key becomes a backend option. Throws `ERR_UPLOAD_CONFIG` naming file, section and key.
 */
export function parseUploadConfig(text: string, file?: string): UploadConfig {
  const { sections: raw, defaults } = splitIni(text, file);
  const warnings: string[] = [];
  const sections: UploadConfigSection[] = [];
  for (const rs of raw) {
    const values = new Map<string, { key: string; value: unknown }>();
    const merged = [
      ...defaults.entries.filter((d) => !rs.entries.some((e) => e.key.toLowerCase() === d.key.toLowerCase())),
      ...rs.entries,
    ];
    for (const e of merged) {
      let value: unknown;
      try {
        value = parseJsonValue(e.value);
      } catch {
        throw configError(
          `value ${JSON.stringify(e.value)} is not JSON (strings need double quotes, e.g. ${JSON.stringify(e.value.trim())})`,
          file,
          rs.name,
          e.key,
          e.line,
        );
      }
      values.set(e.key.toLowerCase(), { key: e.key, value });
    }
    for (const [legacy, modern] of Object.entries(LEGACY)) {
      const v = values.get(legacy);
      if (!v) continue;
      values.delete(legacy);
      if (values.has(modern.toLowerCase())) {
        warnings.push(
          `${file ?? '<config>'}: section [${rs.name}]: deprecated key "${v.key}" ignored, "${modern}" is set`,
        );
      } else {
        warnings.push(
          `${file ?? '<config>'}: section [${rs.name}]: key "${v.key}" is deprecated, use "${modern}"`,
        );
        values.set(modern.toLowerCase(), { key: modern, value: v.value });
      }
    }
    const req: Record<string, string> = {};
    for (const k of REQUIRED) {
      const v = values.get(k.toLowerCase());
      if (!v) throw configError('required key is missing', file, rs.name, k);
      if (typeof v.value !== 'string' || v.value === '')
        throw configError(
          `must be a non-empty JSON string, got ${JSON.stringify(v.value)}`,
          file,
          rs.name,
          v.key,
        );
      req[k] = v.value;
      values.delete(k.toLowerCase());
    }
    try {
      new RegExp(pythonRegexToJs(req.uriMatch));
    } catch (err) {
      throw configError(`invalid regular expression: ${(err as Error).message}`, file, rs.name, 'uriMatch');
    }
    const options: Record<string, unknown> = {};
    for (const { key, value } of values.values()) options[key] = value;
    const section: UploadConfigSection = {
      name: rs.name,
      server: req.server.toLowerCase(),
      protocol: req.protocol,
      uriMatch: req.uriMatch,
      uriReplace: req.uriReplace,
      options,
    };
    const dup = sections.findIndex((s) => s.server === section.server);
    if (dup >= 0) {
      warnings.push(
        `${file ?? '<config>'}: section [${rs.name}] replaces section [${sections[dup].name}] for server ${section.server}`,
      );
      sections.splice(dup, 1);
    }
    sections.push(section);
  }
  return { file, sections, warnings };
}

/** JSON.parse, tolerating a trailing ` ; comment` or ` # comment` as ConfigParser strips inline comments. */
function parseJsonValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const m = /^(.*?)\s+[;#].*$/s.exec(text);
    if (m) return JSON.parse(m[1]);
    throw err;
  }
}

/** Reads and parses a vmcaster upload configuration file. */
export async function loadUploadConfig(path: string): Promise<UploadConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UploadError(
      'ERR_UPLOAD_CONFIG',
      `${path}: cannot read configuration: ${(err as Error).message}`,
      {
        file: path,
        cause: err,
      },
    );
  }
  return parseUploadConfig(text, path);
}

/** Translates the Python-only regex syntax the original configs may use: `(?P<n>…)` and `(?P=n)`. */
export function pythonRegexToJs(re: string): string {
  return re.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>');
}
