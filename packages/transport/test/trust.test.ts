import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTransport, readCaDirectory, type TlsTrust, TransportError } from '../src/index.js';
import { issueServerCert, makePki, type Pki, rehashedDirectory, selfSigned, tempDir } from './helpers/pki.js';
import { rejection, send, startServer, type TestServer, text } from './helpers/servers.js';

let tmp: string;
let pki: Pki;
let good: TestServer; // certificate for 127.0.0.1 from the test CA
let wrongName: TestServer; // certificate for other.example from the test CA
let self: TestServer; // self-signed
let mtls: TestServer; // asks for a client certificate from the test CA
let hashed: string;

beforeAll(async () => {
  tmp = tempDir();
  pki = makePki(join(tmp, 'pki'));
  hashed = rehashedDirectory(pki, join(tmp, 'hashed'));
  good = await startServer({ tls: pki.server });
  wrongName = await startServer({ tls: issueServerCert(pki, 'other', 'DNS:other.example') });
  self = await startServer({ tls: selfSigned(tmp) });
  mtls = await startServer({ tls: { ...pki.server, ca: pki.caCert } });
  for (const s of [good, wrongName, self]) s.routes.set('/x', send('secret bytes'));
  mtls.routes.set('/x', (_req, res) => {
    const peer = mtls.seen.at(-1)?.peer;
    res.writeHead(peer ? 200 : 403).end(peer ? `hello ${peer}` : 'client certificate required');
  });
}, 60_000);

afterAll(async () => {
  await Promise.all([good, wrongName, self, mtls].map((s) => s?.close()));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function get(url: string, tls: TlsTrust, extra: Parameters<typeof createTransport>[0] = {}) {
  const t = createTransport(extra);
  try {
    const res = await t.request(url, { tls });
    return { status: res.status, body: await text(res.body) };
  } finally {
    await t.close();
  }
}

async function refused(url: string, tls: TlsTrust, code = 'ERR_TRANSPORT_TLS'): Promise<TransportError> {
  const t = createTransport();
  try {
    const err = await rejection(t.request(url, { tls }));
    expect(err).toBeInstanceOf(TransportError);
    expect(err.code, err.message).toBe(code);
    return err as unknown as TransportError;
  } finally {
    await t.close();
  }
}

describe('readCaDirectory', () => {
  it('reads a directory made by openssl rehash: each certificate once, CRLs and policy files skipped', async () => {
    expect(readdirSync(hashed)).toEqual(expect.arrayContaining(['HEPiX-Test-CA.crl', 'HEPiX-Test-CA.pem']));
    expect(readdirSync(hashed).some((n) => /^[0-9a-f]{8}\.r0$/.test(n))).toBe(true);
    expect(readdirSync(hashed).some((n) => /\.signing_policy$/.test(n))).toBe(true);
    const pems = await readCaDirectory(hashed);
    expect(pems).toHaveLength(1);
    expect(pems[0]).toContain('-----BEGIN CERTIFICATE-----');
    expect(pems[0].replace(/\s/g, '')).toBe(pki.caPem.replace(/\s/g, ''));
  });

  it('reads the IGTF layout of make-test-pki (<hash>.0 beside .r0, .namespaces, .signing_policy)', async () => {
    expect(await readCaDirectory(pki.certDir)).toHaveLength(1);
  });

  it('reads bundles and *.crt, and leaves out files that hold no certificate', async () => {
    const dir = join(tmp, 'mixed');
    mkdirSync(dir);
    const other = readFileSync(issueServerCert(pki, 'bundle-member', 'DNS:b.example').cert, 'utf8');
    writeFileSync(join(dir, 'bundle.pem'), `${pki.caPem}\n${other}`);
    copyFileSync(pki.caCert, join(dir, 'site.crt'));
    writeFileSync(join(dir, 'deadbeef.0'), 'not a certificate');
    writeFileSync(join(dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    writeFileSync(join(dir, 'README'), pki.caPem);
    expect(await readCaDirectory(dir)).toHaveLength(2);
  });

  it('fails with ERR_TRANSPORT_TRUST for an empty, certificate-less or missing directory', async () => {
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    const policyOnly = join(tmp, 'policy-only');
    mkdirSync(policyOnly);
    for (const f of readdirSync(pki.certDir).filter((n) => !/\.(0|pem)$/.test(n)))
      copyFileSync(join(pki.certDir, f), join(policyOnly, f));
    for (const dir of [empty, policyOnly, join(tmp, 'missing')]) {
      const err = await rejection(readCaDirectory(dir));
      expect(err).toBeInstanceOf(TransportError);
      expect(err.code).toBe('ERR_TRANSPORT_TRUST');
    }
  });
});

describe('TLS trust', () => {
  it('browser: refuses a server whose CA is not a system root', async () => {
    const err = await refused(`${good.origin}/x`, { mode: 'browser' });
    expect(err.underlyingCode).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(err.url).toBe(`${good.origin}/x`);
    expect(err.cause).toBeDefined();
  });

  it('browser + extraCa: accepts the site CA', async () => {
    expect(await get(`${good.origin}/x`, { mode: 'browser', extraCa: [pki.caPem] })).toEqual({
      status: 200,
      body: 'secret bytes',
    });
  });

  it('igtf: verifies against a hashed CA directory', async () => {
    expect((await get(`${good.origin}/x`, { mode: 'igtf', certDir: hashed })).body).toBe('secret bytes');
  });

  it('ca: accepts exactly the given CAs', async () => {
    expect((await get(`${good.origin}/x`, { mode: 'ca', ca: [pki.caPem] })).status).toBe(200);
    await refused(`${good.origin}/x`, { mode: 'ca', ca: [readFileSync(join(tmp, 'self-cert.pem'), 'utf8')] });
  });

  it('igtf: refuses a certificate for another host name, from a trusted CA', async () => {
    const err = await refused(`${wrongName.origin}/x`, { mode: 'igtf', certDir: hashed });
    expect(err.underlyingCode).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(wrongName.seen).toHaveLength(0);
  });

  it('refuses a self-signed server in every verifying mode', async () => {
    for (const tls of [
      { mode: 'browser' },
      { mode: 'igtf', certDir: hashed },
      { mode: 'ca', ca: [pki.caPem] },
    ] as TlsTrust[]) {
      const err = await refused(`${self.origin}/x`, tls);
      expect(err.underlyingCode).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    }
    expect(self.seen).toHaveLength(0);
  });

  it('igtf: an empty or missing CA directory is ERR_TRANSPORT_TRUST and nothing is sent', async () => {
    const empty = join(tmp, 'empty-2');
    mkdirSync(empty);
    const before = good.seen.length;
    await refused(`${good.origin}/x`, { mode: 'igtf', certDir: empty }, 'ERR_TRANSPORT_TRUST');
    await refused(`${good.origin}/x`, { mode: 'igtf', certDir: join(tmp, 'nope') }, 'ERR_TRANSPORT_TRUST');
    expect(good.seen.length).toBe(before);
  });

  it('igtf: reads the directory once per transport (a later change is not seen), a failure is retried', async () => {
    const dir = join(tmp, 'cached');
    mkdirSync(dir);
    const t = createTransport();
    try {
      const first = await rejection(t.request(`${good.origin}/x`, { tls: { mode: 'igtf', certDir: dir } }));
      expect(first.code).toBe('ERR_TRANSPORT_TRUST');
      copyFileSync(pki.caCert, join(dir, 'ca.pem'));
      const ok = await t.request(`${good.origin}/x`, { tls: { mode: 'igtf', certDir: dir } });
      expect(await text(ok.body)).toBe('secret bytes');
      rmSync(join(dir, 'ca.pem'));
      const again = await t.request(`${good.origin}/x`, { tls: { mode: 'igtf', certDir: dir } });
      expect(again.status).toBe(200);
      await text(again.body);
    } finally {
      await t.close();
    }
  });

  it('ca and extraCa without a certificate are ERR_TRANSPORT_TRUST', async () => {
    await refused(`${good.origin}/x`, { mode: 'ca', ca: ['nothing here'] }, 'ERR_TRANSPORT_TRUST');
    await refused(`${good.origin}/x`, { mode: 'browser', extraCa: ['nothing here'] }, 'ERR_TRANSPORT_TRUST');
  });

  it('none: accepts any certificate and warns once per origin', async () => {
    const logs: [string, string, unknown][] = [];
    const t = createTransport({ log: (level, message, fields) => logs.push([level, message, fields]) });
    try {
      for (const s of [self, self, wrongName]) {
        const res = await t.request(`${s.origin}/x`, { tls: { mode: 'none' } });
        expect(await text(res.body)).toBe('secret bytes');
      }
    } finally {
      await t.close();
    }
    const warnings = logs.filter(([level]) => level === 'warn');
    expect(warnings.map(([, , f]) => (f as { uri: string }).uri)).toEqual([self.origin, wrongName.origin]);
    expect(warnings[0][1]).toContain('TLS server authentication disabled');
  });

  it('never applies TLS trust to plain http', async () => {
    const plain = await startServer();
    plain.routes.set('/p', send('plain'));
    try {
      expect((await get(`${plain.origin}/p`, { mode: 'igtf', certDir: join(tmp, 'nope') })).body).toBe(
        'plain',
      );
    } finally {
      await plain.close();
    }
  });
});

describe('client certificates', () => {
  it('presents the client certificate to a server that asks', async () => {
    const r = await get(
      `${mtls.origin}/x`,
      { mode: 'igtf', certDir: pki.certDir },
      { clientCertificate: { cert: readFileSync(pki.client.cert), key: readFileSync(pki.client.key) } },
    );
    expect(r).toEqual({ status: 200, body: `hello ${pki.client.cn}` });
  });

  it('unlocks an encrypted key with its passphrase', async () => {
    const r = await get(
      `${mtls.origin}/x`,
      { mode: 'igtf', certDir: pki.certDir },
      {
        clientCertificate: {
          cert: readFileSync(pki.client.cert, 'utf8'),
          key: readFileSync(pki.client.encryptedKey, 'utf8'),
          passphrase: pki.client.passphrase,
        },
      },
    );
    expect(r.body).toBe(`hello ${pki.client.cn}`);
  });

  it('sends none without one (the server decides)', async () => {
    expect(await get(`${mtls.origin}/x`, { mode: 'igtf', certDir: pki.certDir })).toEqual({
      status: 403,
      body: 'client certificate required',
    });
  });

  it('refuses an unusable key at once with ERR_TRANSPORT_TRUST', () => {
    const cases = [
      {
        cert: readFileSync(pki.client.cert),
        key: readFileSync(pki.client.encryptedKey),
        passphrase: 'wrong',
      },
      { cert: readFileSync(pki.client.cert), key: readFileSync(pki.server.key) },
      { cert: 'not a certificate', key: readFileSync(pki.client.key) },
    ];
    for (const clientCertificate of cases) {
      let err: unknown;
      try {
        createTransport({ clientCertificate });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TransportError);
      expect((err as TransportError).code).toBe('ERR_TRANSPORT_TRUST');
    }
  });
});
