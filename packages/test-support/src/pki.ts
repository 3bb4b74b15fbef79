// Test PKIs made with the openssl CLI at test time: CAs with their `openssl ca` databases and CRLs, end-entity
// and host certificates, IGTF trust directories (`openssl rehash` links, `.namespaces`, `.signing_policy`,
// `<hash>.rN` CRLs as fetch-crl writes them). Everything is synchronous: fixtures are made in `beforeAll`.
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { openssl } from './openssl.js';
import { makeTempDir } from './tmp.js';

export type KeyType = 'rsa' | 'ec' | 'ed25519';
export type Digest = 'sha1' | 'sha256' | 'sha384' | 'sha512';
/** Extension sets: `root` and `ca` (CA:true, keyCertSign, cRLSign), `endorser` (S/MIME signer), `host` (TLS server). */
export type Profile = 'root' | 'ca' | 'endorser' | 'host';
/** Which policy files a trust directory gets for a CA. */
export type PolicyKind = 'both' | 'namespaces' | 'signing_policy' | 'none';

export interface CertOptions {
  /**
   * In `openssl req -subj` form: `/C=DE/O=GermanGrid/CN=Jane Doe`. `\/` and `\+` escape, an unescaped `+` joins
   * a multi-valued RDN, values are UTF-8.
   */
  subject: string;
  /** Default `endorser` (`root` for `OpensslPki.rootCa`, `ca` for `TestCa.subCa`). */
  profile?: Profile;
  /** v3 extension lines (`keyUsage = critical, digitalSignature`) replacing the profile's. */
  extensions?: string[];
  /** subjectAltName entries of the `host` profile; default `IP:127.0.0.1`, `DNS:localhost`. */
  san?: string[];
  /** pathlen of the `root` and `ca` profiles. */
  pathLength?: number;
  /** Default `rsa` (2048 bits); `ec` is P-256. */
  key?: KeyType;
  /** Hash of the issuer's signature; default sha256. */
  digest?: Digest;
  /** `openssl ca -sigopt` values, e.g. `rsa_padding_mode:pss`. */
  sigopt?: string[];
  /** Default one day ago. */
  notBefore?: Date;
  /** Default 36,500 days from now. */
  notAfter?: Date;
  /** `default` makes openssl choose T61String and BMPString for non-ASCII values (old grid certificates). */
  stringMask?: 'utf8only' | 'default';
  /** Where the files go, relative to the PKI directory; default `<name>/cert.pem` and `<name>/key.pem`. */
  certFile?: string;
  keyFile?: string;
}

export interface CaOptions extends CertOptions {
  /**
   * Subjects the CA may issue, as signing_policy globs (`*` any text, `?` one character); they go into the
   * trust directories' `.namespaces` (as anchored regexes) and `.signing_policy`. Default: the CA's own
   * subject without its last attribute, then `/*` (`/C=DE/O=GermanGrid/CN=CA` → `/C=DE/O=GermanGrid/*`).
   */
  namespace?: string[];
  /** Validity of the CRLs it issues; default 36,500 days. */
  crlDays?: number;
  /** Hash of its CRL signatures; default sha256. */
  crlDigest?: Digest;
  /** Default `<name>/crl.pem`. */
  crlFile?: string;
}

const DAY = 86_400_000;

/** The openssl CLI's time form, YYYYMMDDHHMMSSZ. */
function opensslTime(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace(/[-:T]/g, '')}Z`;
}

/**
 * OpenSSL 3's `-nameopt compat` one-line form (`\/`, `\+` escaped, `+` between the members of a multi-valued
 * RDN) written as OpenSSL 1.x's X509_NAME_oneline() does, the form the image lists and trust policies use.
 */
function onelineV1(compat: string): string {
  let out = '';
  for (let i = 0; i < compat.length; i++) {
    const c = compat[i];
    if (c === '\\' && (compat[i + 1] === '/' || compat[i + 1] === '+')) out += compat[++i];
    else if (c === '+') out += '/';
    else out += c;
  }
  return out;
}

function globToRegex(glob: string): string {
  let s = '';
  for (const ch of glob) {
    if (ch === '*') s += '.*';
    else if (ch === '?') s += '.';
    else s += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return s;
}

const quoted = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

function profileLines(options: CertOptions, selfSigned: boolean): string[] {
  if (options.extensions) return options.extensions;
  const aki = selfSigned ? [] : ['authorityKeyIdentifier = keyid'];
  const pathLen = options.pathLength === undefined ? '' : `, pathlen:${options.pathLength}`;
  switch (options.profile ?? 'endorser') {
    case 'root':
    case 'ca':
      return [
        `basicConstraints = critical, CA:true${pathLen}`,
        'keyUsage = critical, keyCertSign, cRLSign',
        'subjectKeyIdentifier = hash',
        ...aki,
      ];
    case 'host':
      return [
        'basicConstraints = critical, CA:false',
        'keyUsage = critical, digitalSignature, keyEncipherment',
        'extendedKeyUsage = serverAuth',
        `subjectAltName = ${(options.san ?? ['IP:127.0.0.1', 'DNS:localhost']).join(', ')}`,
        'subjectKeyIdentifier = hash',
        ...aki,
      ];
    case 'endorser':
      return [
        'basicConstraints = critical, CA:false',
        'keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment',
        'extendedKeyUsage = emailProtection, clientAuth',
        'subjectKeyIdentifier = hash',
        ...aki,
      ];
  }
}

function generateKey(type: KeyType, path: string): void {
  const args =
    type === 'ec'
      ? ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']
      : type === 'ed25519'
        ? ['-algorithm', 'ED25519']
        : ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'];
  openssl(['genpkey', ...args, '-out', path]);
  chmodSync(path, 0o600);
}

/** Writes `key` encrypted with AES-256 under `passphrase` (PKCS#8) to `out`. */
export function encryptKey(key: string, passphrase: string, out: string): string {
  const pass = `${out}.pass`;
  writeFileSync(pass, passphrase, { mode: 0o600 });
  try {
    openssl(['pkey', '-in', key, '-aes256', '-passout', `file:${pass}`, '-out', out]);
  } finally {
    rmSync(pass, { force: true });
  }
  chmodSync(out, 0o600);
  return out;
}

/** A certificate and its private key on disk, with the facts tests compare against. */
export class TestCert {
  /** OpenSSL 1.x one-line DNs (`/C=DE/O=GermanGrid/CN=Jane Doe`). */
  readonly subject: string;
  readonly issuer: string;
  /** Upper-case hex, as `openssl x509 -serial` prints it. */
  readonly serial: string;
  /** `openssl x509 -hash`: the name of its file in a trust directory. */
  readonly hash: string;

  constructor(
    readonly name: string,
    /** Path of the PEM certificate. */
    readonly cert: string,
    /** Path of the unencrypted PEM private key. */
    readonly key: string,
    readonly keyType: KeyType,
  ) {
    const out = openssl([
      'x509',
      '-in',
      cert,
      '-noout',
      '-subject',
      '-issuer',
      '-serial',
      '-hash',
      '-nameopt',
      'compat',
    ])
      .toString('latin1')
      .split('\n');
    const field = (prefix: string) => {
      const line = out.find((l) => l.startsWith(prefix));
      if (line === undefined) throw new Error(`openssl x509 printed no ${prefix}`);
      return line.slice(prefix.length);
    };
    this.subject = onelineV1(field('subject='));
    this.issuer = onelineV1(field('issuer='));
    this.serial = field('serial=').toUpperCase();
    this.hash = out.find((l) => /^[0-9a-f]{8}$/.test(l)) ?? '';
  }

  /** The certificate, PEM. */
  get pem(): string {
    return readFileSync(this.cert, 'utf8');
  }

  /** The private key, PEM. */
  get keyPem(): string {
    return readFileSync(this.key, 'utf8');
  }
}

interface CaState {
  dir: string;
  config: string;
  crl: string;
  crlArgs: string[];
}

function caConfig(state: { dir: string; cert: string; key: string }): string {
  return [
    '[ ca ]',
    'default_ca = test_ca',
    '[ test_ca ]',
    `dir = ${state.dir}`,
    'database = $dir/index.txt',
    'serial = $dir/serial',
    'crlnumber = $dir/crlnumber',
    'new_certs_dir = $dir/issued',
    `certificate = ${state.cert}`,
    `private_key = ${state.key}`,
    'default_md = default',
    'policy = policy_any',
    'unique_subject = no',
    'preserve = yes',
    'email_in_dn = yes',
    // Empty: with -preserveDN the requested name is kept byte for byte (order, multi-valued RDNs, string types).
    '[ policy_any ]',
    '',
  ].join('\n');
}

function initCaState(dir: string, cert: string, key: string, crl: string, crlArgs: string[]): CaState {
  mkdirSync(join(dir, 'issued'), { recursive: true });
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(join(dir, 'crlnumber'), '1000\n');
  const config = join(dir, 'openssl.cnf');
  writeFileSync(config, caConfig({ dir, cert, key }));
  return { dir, config, crl, crlArgs };
}

/** A certification authority: issues certificates and sub-CAs, revokes, writes CRLs. */
export class TestCa extends TestCert {
  /** The `openssl ca` state directory (database, serial, openssl.cnf). */
  readonly dir: string;
  /** Its `openssl ca` configuration file. */
  readonly config: string;
  /** Path of its current CRL (PEM). */
  readonly crl: string;
  /** The subjects it may issue, as globs (see CaOptions.namespace). */
  readonly namespace: readonly string[];
  readonly #state: CaState;
  readonly #pki: OpensslPki;

  /** @internal Use OpensslPki.rootCa or TestCa.subCa. */
  constructor(
    pki: OpensslPki,
    name: string,
    issued: TestCert,
    state: CaState,
    namespace: string[] | undefined,
  ) {
    super(name, issued.cert, issued.key, issued.keyType);
    this.#pki = pki;
    this.#state = state;
    this.dir = state.dir;
    this.config = state.config;
    this.crl = state.crl;
    const parent = /^(.*)\/[A-Za-z][A-Za-z0-9.-]*=.*$/s.exec(this.subject)?.[1] ?? '';
    this.namespace = Object.freeze(namespace ?? [`${parent}/*`]);
    this.#writeCrl(this.crl);
  }

  /** Issues an end-entity certificate (profile `endorser` unless told otherwise). */
  issue(name: string, options: CertOptions): TestCert {
    return this.#pki.create(name, options, this);
  }

  /** Issues an intermediate CA. */
  subCa(name: string, options: CaOptions): TestCa {
    return this.#pki.createCa(name, { profile: 'ca', ...options }, this);
  }

  /** Revokes a certificate it issued and writes a new CRL to `crl`. Trust directories are not touched. */
  revoke(cert: TestCert | string, reason = 'keyCompromise'): void {
    this.#ca(this.#state.config, [
      '-revoke',
      typeof cert === 'string' ? cert : cert.cert,
      '-crl_reason',
      reason,
    ]);
    this.#writeCrl(this.crl);
  }

  /**
   * Its CRL, PEM: the current one, or with `revoke` one that also lists those certificates, made from a copy of
   * the database so that the CA itself is unchanged.
   */
  crlPem(options: { revoke?: (TestCert | string)[] } = {}): string {
    if (!options.revoke?.length) return readFileSync(this.crl, 'utf8');
    const scratch = this.#pki.scratch('crl');
    try {
      for (const f of ['index.txt', 'index.txt.attr', 'serial', 'crlnumber']) {
        if (existsSync(join(this.dir, f))) cpSync(join(this.dir, f), join(scratch, f));
      }
      mkdirSync(join(scratch, 'issued'));
      const config = join(scratch, 'openssl.cnf');
      writeFileSync(config, caConfig({ dir: scratch, cert: this.cert, key: this.key }));
      for (const c of options.revoke) {
        this.#ca(config, ['-revoke', typeof c === 'string' ? c : c.cert, '-crl_reason', 'cACompromise']);
      }
      const out = join(scratch, 'crl.pem');
      this.#ca(config, ['-gencrl', ...this.#state.crlArgs, '-out', out]);
      return readFileSync(out, 'utf8');
    } finally {
      this.#pki.release(scratch);
    }
  }

  /** Its `.namespaces` file (OGF format). */
  namespacesText(): string {
    return (
      `# ${this.subject}\nTO Issuer ${quoted(this.subject)} \\\n` +
      `  PERMIT Subject ${this.namespace.map((g) => quoted(globToRegex(g))).join(' ')}\n`
    );
  }

  /** Its `.signing_policy` file (Globus EACL format). */
  signingPolicyText(): string {
    return (
      `access_id_CA      X509         '${this.subject}'\n` +
      'pos_rights        globus        CA:sign\n' +
      `cond_subjects     globus       '${this.namespace.map((g) => `"${g}"`).join(' ')}'\n`
    );
  }

  #ca(config: string, args: string[]): void {
    openssl(['ca', '-batch', '-config', config, ...args]);
  }

  #writeCrl(out: string): void {
    mkdirSync(dirname(out), { recursive: true });
    this.#ca(this.#state.config, ['-gencrl', ...this.#state.crlArgs, '-out', out]);
  }
}

export interface TrustDirOptions {
  /** The CAs it holds (certificates as `<name>.pem` with `openssl rehash` links). */
  cas: TestCa[];
  /** Their current CRLs as `<hash>.rN` files: all (default), none, or those of the CAs listed. */
  crls?: boolean | TestCa[];
  /** Policy files per CA: one kind for all, or by CA name; default `both`. */
  policies?: PolicyKind | Record<string, PolicyKind>;
  /** Other certificates put in (as `<name>.pem`, linked), without policy or CRL: e.g. a self-signed endorser. */
  extra?: TestCert[];
}

/** Index N of the `<hash>.N` entry of `dir` that holds `ca`'s certificate. */
function certIndex(dir: string, ca: TestCert): number {
  const pem = ca.pem.trim();
  for (const name of readdirSync(dir)) {
    const m = /^([0-9a-f]{8})\.(\d+)$/.exec(name);
    if (m && m[1] === ca.hash && readFileSync(join(dir, name), 'utf8').trim() === pem) return Number(m[2]);
  }
  throw new Error(`${ca.subject} is not in the trust directory ${dir}`);
}

/**
 * Writes (or with `null` removes) the CRL of `ca` in a trust directory, as fetch-crl does: a plain
 * `<hash>.rN` file next to the `<hash>.N` certificate. PEM or DER; default the CA's current CRL.
 */
export function writeTrustCrl(
  dir: string,
  ca: TestCa,
  crl: string | Uint8Array | null = ca.crlPem(),
): string {
  const file = join(dir, `${ca.hash}.r${certIndex(dir, ca)}`);
  rmSync(file, { force: true });
  if (crl !== null) writeFileSync(file, crl);
  return file;
}

/** Copies a trust directory; its links stay relative, so the copy is independent of the original. */
export function copyTrustDir(from: string, to: string, options: { crls?: boolean } = {}): string {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    if (options.crls === false && /\.r\d+$/.test(name)) continue;
    cpSync(join(from, name), join(to, name), { verbatimSymlinks: true });
  }
  return to;
}

/** An IGTF-style trust directory made by `OpensslPki.trustDir`. */
export class TrustDir {
  constructor(
    readonly path: string,
    readonly cas: readonly TestCa[],
  ) {}

  /** `<hash>.N`, the hashed name of the CA's certificate. */
  certFile(ca: TestCa): string {
    return join(this.path, `${ca.hash}.${certIndex(this.path, ca)}`);
  }

  /** `<hash>.rN`, where the CA's CRL is (or would be). */
  crlFile(ca: TestCa): string {
    return join(this.path, `${ca.hash}.r${certIndex(this.path, ca)}`);
  }

  policyFile(ca: TestCa, kind: 'namespaces' | 'signing_policy'): string {
    return join(this.path, `${ca.hash}.${kind}`);
  }

  /** Replaces the CA's CRL (PEM or DER; default its current one), or removes it (`null`). */
  setCrl(ca: TestCa, crl: string | Uint8Array | null = ca.crlPem()): void {
    writeTrustCrl(this.path, ca, crl);
  }

  /** Replaces a policy file of the CA, or removes it (`null`). */
  setPolicy(ca: TestCa, kind: 'namespaces' | 'signing_policy', text: string | null): void {
    const file = this.policyFile(ca, kind);
    rmSync(file, { force: true });
    if (text !== null) writeFileSync(file, text);
  }

  /** An independent copy at `path` (absolute, or relative to this directory's parent). */
  copy(path: string, options: { crls?: boolean } = {}): TrustDir {
    const to = resolve(dirname(this.path), path);
    copyTrustDir(this.path, to, options);
    return new TrustDir(to, this.cas);
  }
}

/** A directory of test PKI material; makes root CAs, self-signed certificates and trust directories. */
export class OpensslPki {
  readonly dir: string;
  readonly #names = new Set<string>();
  #scratch = 0;

  constructor(dir: string = makeTempDir('hepix-pki-')) {
    mkdirSync(dir, { recursive: true });
    this.dir = resolve(dir);
  }

  /** A self-signed CA (profile `root`). */
  rootCa(name: string, options: CaOptions): TestCa {
    return this.createCa(name, { profile: 'root', ...options });
  }

  /** A self-signed end-entity certificate (profile `endorser` unless told otherwise). */
  selfSigned(name: string, options: CertOptions): TestCert {
    return this.create(name, options);
  }

  /** An IGTF trust directory at `<dir>/<name>` (see TrustDirOptions). */
  trustDir(name: string, options: TrustDirOptions): TrustDir {
    const path = resolve(this.dir, name);
    mkdirSync(path, { recursive: true });
    const policies = new Map<string, string>();
    const add = (file: string, text: string) => policies.set(file, (policies.get(file) ?? '') + text);
    for (const ca of options.cas) {
      writeFileSync(join(path, `${ca.name.replace(/[/\\]/g, '_')}.pem`), ca.pem);
      const p = options.policies;
      const kind = (typeof p === 'string' ? p : p?.[ca.name]) ?? 'both';
      if (kind === 'both' || kind === 'namespaces') add(`${ca.hash}.namespaces`, ca.namespacesText());
      if (kind === 'both' || kind === 'signing_policy')
        add(`${ca.hash}.signing_policy`, ca.signingPolicyText());
    }
    for (const c of options.extra ?? [])
      writeFileSync(join(path, `${c.name.replace(/[/\\]/g, '_')}.pem`), c.pem);
    for (const [file, text] of policies) writeFileSync(join(path, file), text);
    openssl(['rehash', path]);
    const crls = options.crls ?? true;
    for (const ca of crls === true ? options.cas : crls === false ? [] : crls) writeTrustCrl(path, ca);
    return new TrustDir(path, options.cas);
  }

  /** @internal */
  createCa(name: string, options: CaOptions, issuer?: TestCa): TestCa {
    const dir = join(this.dir, name);
    const crl = resolve(this.dir, options.crlFile ?? `${name}/crl.pem`);
    const cert = this.create(name, options, issuer);
    const crlArgs = ['-crldays', String(options.crlDays ?? 36_500)];
    if (cert.keyType !== 'ed25519') crlArgs.push('-md', options.crlDigest ?? 'sha256');
    const state = initCaState(dir, cert.cert, cert.key, crl, crlArgs);
    return new TestCa(this, name, cert, state, options.namespace);
  }

  /** @internal A fresh scratch directory inside the PKI directory. */
  scratch(what: string): string {
    const dir = join(this.dir, '.work', `${what}-${process.pid}-${this.#scratch++}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** @internal Removes a scratch directory, and the scratch root once it is empty. */
  release(scratch: string): void {
    rmSync(scratch, { recursive: true, force: true });
    try {
      rmdirSync(dirname(scratch));
    } catch {
      // not empty yet, or already gone
    }
  }

  /** @internal Key, request and certificate; self-signed when there is no issuer. */
  create(name: string, options: CertOptions, issuer?: TestCa): TestCert {
    if (this.#names.has(name)) throw new Error(`the test PKI already has a ${name}`);
    this.#names.add(name);
    const cert = resolve(this.dir, options.certFile ?? `${name}/cert.pem`);
    const key = resolve(this.dir, options.keyFile ?? `${name}/key.pem`);
    mkdirSync(dirname(cert), { recursive: true });
    mkdirSync(dirname(key), { recursive: true });
    const keyType = options.key ?? 'rsa';
    generateKey(keyType, key);
    const work = this.scratch(name.replace(/[/\\]/g, '_'));
    try {
      const reqConfig = join(work, 'req.cnf');
      writeFileSync(
        reqConfig,
        `[ req ]\ndistinguished_name = dn\nstring_mask = ${options.stringMask ?? 'utf8only'}\n[ dn ]\n`,
      );
      const csr = join(work, 'req.csr');
      openssl([
        'req',
        '-new',
        '-key',
        key,
        '-out',
        csr,
        '-subj',
        options.subject,
        '-config',
        reqConfig,
        '-utf8',
        '-multivalue-rdn',
      ]);
      const ext = join(work, 'ext.cnf');
      writeFileSync(ext, `[ x ]\n${profileLines(options, !issuer).join('\n')}\n`);
      const now = Date.now();
      const args = [
        '-in',
        csr,
        '-out',
        cert,
        '-notext',
        '-utf8',
        '-preserveDN',
        '-rand_serial',
        '-startdate',
        opensslTime(options.notBefore ?? new Date(now - DAY)),
        '-enddate',
        opensslTime(options.notAfter ?? new Date(now + 36_500 * DAY)),
        '-extfile',
        ext,
        '-extensions',
        'x',
      ];
      const signingKey = issuer ? issuer.keyType : keyType;
      // Ed25519 has no separate digest; openssl refuses -md there.
      if (signingKey !== 'ed25519') args.push('-md', options.digest ?? 'sha256');
      for (const o of options.sigopt ?? []) args.push('-sigopt', o);
      if (issuer) {
        openssl(['ca', '-batch', '-config', issuer.config, ...args]);
      } else {
        // A self-signed certificate is issued by a one-off CA state of its own.
        const state = initCaState(join(work, 'self'), cert, key, join(work, 'self.crl'), []);
        openssl(['ca', '-batch', '-config', state.config, '-selfsign', '-keyfile', key, ...args]);
      }
    } finally {
      this.release(work);
    }
    return new TestCert(name, cert, key, keyType);
  }
}
