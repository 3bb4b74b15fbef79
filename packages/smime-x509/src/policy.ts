// IGTF trust directory policies: `*.namespaces` (OGF CA namespaces) and `*.signing_policy` (Globus EACL).
// Both say which subject names a CA may sign. Patterns are anchored at both ends (the originals only
// anchored the start) and signing_policy globs escape every regex metacharacter except `*` and `?`.

export interface CaPolicy {
  /** One-line DN of the CA the policy is about. */
  ca: string;
  source: 'namespaces' | 'signing_policy';
  file: string;
  permit: RegExp[];
  deny: RegExp[];
}

/** shlex(posix)-like tokenizer: whitespace separated, '…' literal, "…" with \\ \" escapes, # comments. */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
      continue;
    }
    if (c === '#') break;
    let tok = '';
    while (i < line.length && !/[\s]/.test(line[i])) {
      const d = line[i];
      if (d === "'") {
        const end = line.indexOf("'", i + 1);
        if (end < 0) throw new Error('unterminated quote');
        tok += line.slice(i + 1, end);
        i = end + 1;
      } else if (d === '"') {
        i++;
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) i++;
          tok += line[i++];
        }
        if (i >= line.length) throw new Error('unterminated quote');
        i++;
      } else if (d === '\\' && i + 1 < line.length) {
        tok += line[i + 1];
        i += 2;
      } else {
        tok += d;
        i++;
      }
    }
    out.push(tok);
  }
  return out;
}

function logicalLines(text: string): string[] {
  return text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
}

function anchored(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}

/**
 * Parse a `.namespaces` file. `self` is the DN of the CA the file belongs to (for `TO Issuer SELF`).
 * Unknown statements make the file invalid (fail closed) rather than being skipped.
 */
export function parseNamespaces(text: string, file: string, self?: string): CaPolicy[] {
  const policies = new Map<string, CaPolicy>();
  for (const line of logicalLines(text)) {
    const t = tokenize(line);
    if (t.length === 0) continue;
    if (t[0].toUpperCase() !== 'TO' || t[1]?.toLowerCase() !== 'issuer' || t.length < 6) {
      throw new Error(`unsupported namespaces statement: ${line.trim()}`);
    }
    let ca = t[2];
    if (ca.toUpperCase() === 'SELF' && !line.includes('"SELF"')) {
      if (!self) throw new Error('TO Issuer SELF without a CA certificate for this hash');
      ca = self;
    }
    let p = policies.get(ca);
    if (!p) {
      p = { ca, source: 'namespaces', file, permit: [], deny: [] };
      policies.set(ca, p);
    }
    let k = 3;
    while (k < t.length) {
      const verb = t[k].toUpperCase();
      if (
        (verb !== 'PERMIT' && verb !== 'DENY') ||
        t[k + 1]?.toLowerCase() !== 'subject' ||
        t[k + 2] === undefined
      ) {
        throw new Error(`unsupported namespaces statement: ${line.trim()}`);
      }
      k += 2;
      while (k < t.length && !['PERMIT', 'DENY'].includes(t[k].toUpperCase())) {
        (verb === 'PERMIT' ? p.permit : p.deny).push(anchored(t[k]));
        k++;
      }
    }
  }
  return [...policies.values()];
}

function globToRegExp(glob: string): RegExp {
  let s = '';
  for (const ch of glob) {
    if (ch === '*') s += '.*';
    else if (ch === '?') s += '.';
    else s += ch.replace(/[\\^$.|+()[\]{}/-]/g, '\\$&');
  }
  return anchored(s);
}

/** Parse a `.signing_policy` file (EACL); every `access_id_CA` block counts, not only the last. */
export function parseSigningPolicy(text: string, file: string): CaPolicy[] {
  const out: CaPolicy[] = [];
  let current: CaPolicy | undefined;
  for (const line of logicalLines(text)) {
    const t = tokenize(line);
    if (t.length === 0) continue;
    if (t[0] === 'access_id_CA') {
      if (t.length !== 3 || t[1] !== 'X509') throw new Error(`unsupported access_id_CA: ${line.trim()}`);
      current = { ca: t[2], source: 'signing_policy', file, permit: [], deny: [] };
      out.push(current);
    } else if (t[0] === 'cond_subjects') {
      if (!current || t.length !== 3) throw new Error(`cond_subjects outside an access_id_CA block`);
      for (const m of t[2].matchAll(/"([^"]*)"/g)) current.permit.push(globToRegExp(m[1]));
    } else if (t[0] === 'pos_rights' || t[0] === 'neg_rights' || t[0] === 'access_id_ANYBODY') {
      // rights other than CA:sign are not used for certificate issuance checks
    } else throw new Error(`unsupported signing_policy statement: ${line.trim()}`);
  }
  // A CA with no cond_subjects may sign nothing (the original crashed here).
  return out;
}

/** Whether every policy present for a CA allows it to issue `subject`. */
export function policyAllows(policies: CaPolicy[], subject: string): boolean {
  for (const p of policies) {
    if (p.deny.some((r) => r.test(subject))) return false;
    if (!p.permit.some((r) => r.test(subject))) return false;
  }
  return true;
}
