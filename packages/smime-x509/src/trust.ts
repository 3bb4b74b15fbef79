// Trust anchors: CA certificates, their CRLs and their namespace policies.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type CertModel, certModel, loadCertificates, toCertificate, type X509Certificate } from './cert.js';
import { type CrlModel, parseCrls } from './crl.js';
import { dnEquals } from './dn.js';
import { SmimeError } from './errors.js';
import { subjectHash } from './hash.js';
import { type CaPolicy, parseNamespaces, parseSigningPolicy } from './policy.js';

/** Options of a trust store. */
export interface TrustStoreOptions {
  /**
   * Accept CAs that have no `.namespaces` or `.signing_policy` (the original tools refuse everything they
   * issued), and self-signed signers trusted directly as their own anchor. Each use is reported in
   * `VerifiedMessage.warnings`. Default false. `verifySmime`'s option of the same name overrides it per call.
   */
  allowUnrestrictedCa?: boolean;
}

/** Certificates' policies for `TrustStore.fromCertificates`, with the store's options. */
export interface CertificatePolicies extends TrustStoreOptions {
  /** Texts of `.namespaces` files. */
  namespaces?: string[];
  /** Texts of `.signing_policy` files. */
  signingPolicies?: string[];
}

/** What path validation needs from a store; kept out of the public class. */
export interface StoreView {
  bySubject(subject: string): CertModel[];
  contains(m: CertModel): boolean;
  /** CRLs whose issuer name is the given one. */
  crlsFor(issuerRaw: Uint8Array, issuer: string): CrlModel[];
  /** Policies about the CA named `ca`. */
  policiesFor(ca: string): CaPolicy[];
  /** The trust directory the store was read from. */
  directory?: string;
  /** The file a trusted certificate was read from. */
  fileOf(m: CertModel): string | undefined;
  allowUnrestrictedCa: boolean;
}

const views = new WeakMap<TrustStore, StoreView>();

/** @internal */
export function storeView(store: TrustStore): StoreView {
  const v = views.get(store);
  if (!v) throw new SmimeError('ERR_SMIME_UNTRUSTED', 'opts.trust is not a TrustStore');
  return v;
}

const same = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

interface Origin {
  directory?: string;
  files?: Map<CertModel, string>;
}

/** A set of trusted CA certificates with their CRLs and namespace policies. Immutable. */
export class TrustStore {
  readonly #certs: CertModel[];
  /** Files of a trust directory that could not be used, and CAs without a policy, with the reason. */
  readonly warnings: readonly string[];
  /** See TrustStoreOptions. */
  readonly allowUnrestrictedCa: boolean;

  private constructor(
    all: CertModel[],
    crls: CrlModel[],
    policies: CaPolicy[],
    warnings: string[],
    options: TrustStoreOptions,
    origin: Origin = {},
  ) {
    // IGTF directories hold most CAs twice (<hash>.0 and <alias>.pem): keep one of each.
    const certs = all.filter((c, i) => all.findIndex((d) => same(c.raw, d.raw)) === i);
    this.#certs = certs;
    this.allowUnrestrictedCa = options.allowUnrestrictedCa === true;
    if (origin.directory !== undefined && !this.allowUnrestrictedCa) {
      for (const c of certs) {
        if (!policies.some((p) => dnEquals(p.ca, c.subject))) {
          const hash = subjectHash(c.subjectRaw);
          warnings.push(
            `${basename(origin.files?.get(c) ?? c.subject)}: ${c.subject} is named by neither ${hash}.namespaces ` +
              `nor ${hash}.signing_policy; it signs nothing unless allowUnrestrictedCa (--allow-unrestricted-ca) is set`,
          );
        }
      }
    }
    this.warnings = Object.freeze([...warnings]);
    const bySubject = new Map<string, CertModel[]>();
    for (const c of certs) {
      const list = bySubject.get(c.subject) ?? [];
      list.push(c);
      bySubject.set(c.subject, list);
    }
    views.set(this, {
      bySubject: (subject) => bySubject.get(subject) ?? [],
      contains: (m) => certs.some((c) => c === m || same(c.raw, m.raw)),
      crlsFor: (issuerRaw, issuer) => crls.filter((c) => same(c.issuerRaw, issuerRaw) || c.issuer === issuer),
      policiesFor: (ca) => policies.filter((p) => dnEquals(p.ca, ca)),
      directory: origin.directory,
      fileOf: (m) => {
        for (const [c, file] of origin.files ?? []) if (c === m || same(c.raw, m.raw)) return file;
        return undefined;
      },
      allowUnrestrictedCa: this.allowUnrestrictedCa,
    });
  }

  /**
   * Load an IGTF-style directory (non-recursive): `*.0` … `*.9` and `*.pem` certificates, `*.r0` … `*.r9`
   * CRLs (DER or PEM), `*.namespaces` and `*.signing_policy`. Files that cannot be parsed are skipped and
   * listed in `warnings` (they add no trust); a policy file that cannot be parsed makes its CA sign nothing,
   * and so does a CA without any policy file unless `allowUnrestrictedCa` is set (listed in `warnings` too).
   */
  static async fromDirectory(path: string, options: TrustStoreOptions = {}): Promise<TrustStore> {
    let names: string[];
    try {
      names = (await readdir(path)).sort();
    } catch (e) {
      throw new SmimeError('ERR_SMIME_UNTRUSTED', `cannot read trust directory ${path}`, { path, cause: e });
    }
    const certs: CertModel[] = [];
    const crls: CrlModel[] = [];
    const policies: CaPolicy[] = [];
    const warnings: string[] = [];
    const certByBase = new Map<string, CertModel>();
    const files = new Map<CertModel, string>();
    const read = async (name: string): Promise<Buffer | undefined> => {
      const file = join(path, name);
      try {
        const st = await stat(file);
        if (!st.isFile()) return undefined;
        return await readFile(file);
      } catch (e) {
        warnings.push(`${name}: ${(e as Error).message}`);
        return undefined;
      }
    };
    for (const name of names) {
      if (!/\.(\d|pem)$/.test(name)) continue;
      const data = await read(name);
      if (!data) continue;
      try {
        for (const x of loadCertificates(data)) {
          const m = certModel(x);
          certs.push(m);
          certByBase.set(name.replace(/\.(\d|pem)$/, ''), m);
          if (![...files.keys()].some((c) => same(c.raw, m.raw))) files.set(m, join(path, name));
        }
      } catch (e) {
        warnings.push(`${name}: ${(e as Error).message}`);
      }
    }
    for (const name of names) {
      const isCrl = /\.r\d$/.test(name);
      const isNs = name.endsWith('.namespaces');
      const isSp = name.endsWith('.signing_policy');
      if (!isCrl && !isNs && !isSp) continue;
      const data = await read(name);
      if (!data) continue;
      const file = join(path, name);
      if (isCrl) {
        try {
          crls.push(...parseCrls(data, file));
        } catch (e) {
          warnings.push(`${name}: ${(e as Error).message}`);
        }
        continue;
      }
      const base = name.replace(/\.(namespaces|signing_policy)$/, '');
      const self = certByBase.get(base)?.subject;
      try {
        const text = data.toString('utf8');
        policies.push(...(isNs ? parseNamespaces(text, file, self) : parseSigningPolicy(text, file)));
      } catch (e) {
        warnings.push(`${name}: ${(e as Error).message}`);
        // Fail closed: a CA whose policy we cannot read may sign nothing.
        if (self)
          policies.push({
            ca: self,
            source: isNs ? 'namespaces' : 'signing_policy',
            file,
            permit: [],
            deny: [],
          });
      }
    }
    return new TrustStore(certs, crls, policies, warnings, options, { directory: path, files });
  }

  /**
   * A store from certificates (PEM/DER or parsed) and CRLs (PEM/DER), with the texts of their policy files.
   * Without a policy a CA signs nothing unless `allowUnrestrictedCa` is set.
   */
  static fromCertificates(
    certs: (X509Certificate | string | Uint8Array)[],
    crls: (string | Uint8Array)[] = [],
    policies: CertificatePolicies = {},
  ): TrustStore {
    const models = certs.map((c) => certModel(toCertificate(c)));
    const crlModels = crls.flatMap((c) => parseCrls(c));
    const pol: CaPolicy[] = [];
    try {
      for (const t of policies.namespaces ?? []) pol.push(...parseNamespaces(t, '<namespaces>'));
      for (const t of policies.signingPolicies ?? []) pol.push(...parseSigningPolicy(t, '<signing_policy>'));
    } catch (e) {
      throw new SmimeError('ERR_SMIME_MALFORMED', `policy could not be parsed: ${(e as Error).message}`, {
        cause: e,
      });
    }
    return new TrustStore(models, crlModels, pol, [], policies);
  }

  /** The trusted certificates. */
  get certificates(): X509Certificate[] {
    return this.#certs.map((c) => c.x509);
  }
}
