import { pythonRegexToJs } from './config.js';

type Part = { lit: string } | { group: string };

/** Parses a Python `re.sub` replacement template (`\1`, `\g<1>`, `\g<name>`, `\\`, `\n`). */
function parseReplacement(template: string): Part[] {
  const parts: Part[] = [];
  let lit = '';
  const flush = () => {
    if (lit) parts.push({ lit });
    lit = '';
  };
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (c !== '\\' || i === template.length - 1) {
      lit += c;
      continue;
    }
    const n = template[i + 1];
    const num = /^\d{1,2}/.exec(template.slice(i + 1));
    if (num) {
      flush();
      parts.push({ group: num[0] });
      i += num[0].length;
    } else if (n === 'g') {
      const g = /^g<([^>]+)>/.exec(template.slice(i + 1));
      if (!g) throw new Error(`bad group reference at position ${i}`);
      flush();
      parts.push({ group: g[1] });
      i += g[0].length;
    } else {
      const esc: Record<string, string> = {
        n: '\n',
        t: '\t',
        r: '\r',
        '\\': '\\',
        f: '\f',
        v: '\v',
        a: '\x07',
      };
      lit += n in esc ? esc[n] : `\\${n}`;
      i += 1;
    }
  }
  flush();
  return parts;
}

/** The literal part of a replacement before its first group reference: the prefix every target must keep. */
export function staticPrefix(template: string): string {
  let out = '';
  for (const p of parseReplacement(template)) {
    if ('group' in p) break;
    out += p.lit;
  }
  return out;
}

/**
 * `re.sub(pattern, replacement, input)` with the semantics of the Python 2 original: every match replaced,
 * an empty match adjacent to the previous match skipped (so `.*` replaces a whole URI once).
 */
export function pythonSub(
  pattern: string,
  replacement: string,
  input: string,
): { result: string; count: number } {
  const re = new RegExp(pythonRegexToJs(pattern), 'gu');
  const parts = parseReplacement(replacement);
  let out = '';
  let pos = 0;
  let count = 0;
  let lastEnd = -1;
  for (;;) {
    const m = re.exec(input);
    if (!m) break;
    if (m[0] === '') {
      re.lastIndex = m.index + 1;
      if (m.index === lastEnd) continue;
    }
    out += input.slice(pos, m.index);
    for (const p of parts) {
      if ('lit' in p) out += p.lit;
      else {
        const v = /^\d+$/.test(p.group) ? m[Number(p.group)] : m.groups?.[p.group];
        if (/^\d+$/.test(p.group) ? Number(p.group) >= m.length : !(m.groups && p.group in m.groups))
          throw new Error(`invalid group reference ${p.group}`);
        out += v ?? '';
      }
    }
    pos = m.index + m[0].length;
    lastEnd = pos;
    count++;
    if (re.lastIndex > input.length) break;
  }
  out += input.slice(pos);
  return { result: out, count };
}
