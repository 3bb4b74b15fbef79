// The site policy in subscription updates: refused images reported (not available), deprecation under warn,
// and a list older than max-list-age rejected like an expired one. Lists signed with the openssl CLI, served
// over HTTP on 127.0.0.1, a real SQLite store.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, type Store } from '@hepix/imagelist-store';
import { parsePolicy, type SitePolicy } from '@hepix/site-policy';
import {
  makeListJson,
  makePki,
  makeTempDir,
  signList,
  startHttpServer,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPolicy, createSubscriptions, STATE_DEPRECATED } from '../src/index.js';

const DAY = 86_400_000;
let tmp: string;
let pki: TestPki;
let http: TestServer;
let store: Store;

beforeAll(async () => {
  tmp = makeTempDir('hepix-sub-policy-');
  pki = makePki(join(tmp, 'pki'));
  http = await startHttpServer();
  store = await openStore(`sqlite:///${join(tmp, 'vmcatcher.db')}`);
  await store.subscriber.createEndorser('owen', [
    { subject: pki.endorser.subject, issuer: pki.endorser.issuer },
  ]);
}, 120_000);

afterAll(async () => {
  await store?.close();
  await http?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

let version = 0;

/** A signed list of `images`; `deprecated` maps an identifier to its sl:deprecated reason. */
function list(
  id: string,
  path: string,
  images: { identifier: string; format?: string }[],
  options: { created?: Date; deprecated?: Record<string, string> } = {},
): Buffer {
  const doc = JSON.parse(
    makeListJson({
      identifier: id,
      version: `1.${++version}`,
      created: options.created ?? new Date(Date.now() - DAY),
      expires: new Date(Date.now() + 300 * DAY),
      uri: `${http.url}${path}`,
      dn: pki.endorser.subject,
      ca: pki.endorser.issuer,
      images,
    }),
  );
  for (const entry of doc['hv:imagelist']['hv:images']) {
    const reason = options.deprecated?.[entry['hv:image']['dc:identifier']];
    if (reason !== undefined) entry['hv:image']['sl:deprecated'] = reason;
  }
  return signList(JSON.stringify(doc), pki.endorser);
}

async function subscribed(images: { identifier: string; format?: string }[], options = {}) {
  const id = randomUUID();
  const path = `/${id}/image.list`;
  http.serve(path, list(id, path, images, options));
  const engine = createSubscriptions({ store, certDir: pki.certDir });
  try {
    await engine.subscribe(`${http.url}${path}`, { updateMode: 3 });
  } finally {
    await engine.close();
  }
  return { id, path };
}

async function update(id: string, policy?: SitePolicy) {
  const logs: [string, string, Record<string, unknown> | undefined][] = [];
  const engine = createSubscriptions({
    store,
    certDir: pki.certDir,
    log: (level, message, fields) => logs.push([level, message, fields]),
    ...(policy ? { policy } : {}),
  });
  try {
    const { results } = await engine.update({ identifiers: [id] });
    return { result: results[0], logs };
  } finally {
    await engine.close();
  }
}

async function states(id: string, policy?: SitePolicy) {
  const images = await store.subscriber.listImages({ subscription: id });
  return new Map(
    (await applyPolicy(store, images, policy ? { policy } : {})).map((i) => [i.identifier, i.state]),
  );
}

describe('createSubscriptions({ policy }).update()', { timeout: 60_000 }, () => {
  it('reports the images the policy refuses, at every update; they are not available under it', async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const { id } = await subscribed([
      { identifier: a, format: 'qcow2' },
      { identifier: b, format: 'vmdk' },
      { identifier: c, format: 'raw' },
    ]);
    const policy = parsePolicy(`[images]\ndeny = ${c}\n[limits]\nformats = qcow2 raw\n`, { source: 'p.cfg' });
    for (const outcome of ['updated', 'unchanged']) {
      const { result, logs } = await update(id, policy);
      expect(result.outcome).toBe(outcome);
      expect(result.error).toBeUndefined();
      expect(result.policyRefused.map((p) => [p.image, p.rule, p.reason])).toEqual([
        [b, 'limits.formats', 'policy'],
        [c, 'images.deny', 'policy'],
      ]);
      const line = logs.find(([, , f]) => f?.image === b);
      expect(line?.[0]).toBe('warn');
      expect(line?.[1]).toContain(`subscription '${id}'`);
    }
    const under = await states(id, policy);
    expect([under.get(a), under.get(b), under.get(c)]).toEqual([3, 1, 1]);
    // The store itself is unchanged by the policy: without it all three are available.
    const plain = await states(id);
    expect([plain.get(a), plain.get(b), plain.get(c)]).toEqual([3, 3, 3]);
  });

  it('deprecated images: refused by default, kept with a warning under warn', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const { id } = await subscribed([{ identifier: a }, { identifier: b }], { deprecated: { [a]: 'use b' } });
    const refused = await update(id);
    expect(refused.result.policyRefused).toEqual([
      expect.objectContaining({
        image: a,
        rule: 'limits.deprecated',
        reason: 'deprecated',
        deprecated: 'use b',
      }),
    ]);
    const warn = parsePolicy('[limits]\ndeprecated = warn\n');
    const warned = await update(id, warn);
    expect(warned.result.policyRefused).toEqual([]);
    expect(warned.result.warnings.some((w) => w.includes(a) && w.includes('use b'))).toBe(true);
    expect((await states(id)).get(a)).toBe(1 | STATE_DEPRECATED);
    expect((await states(id, warn)).get(a)).toBe(3 | STATE_DEPRECATED);
  });

  it('a list older than max-list-age is rejected like an expired one and the stored list retired', async () => {
    const a = randomUUID();
    const { id, path } = await subscribed([{ identifier: a }], { created: new Date(Date.now() - 40 * DAY) });
    expect((await update(id)).result.outcome).toBe('updated');
    const stored = await store.subscriber.getLatestImageList(id);
    const policy = parsePolicy('[limits]\nmax-list-age = 30d\n');
    const { result } = await update(id, policy);
    expect(result.outcome).toBe('rejected');
    expect(result.error?.code).toBe('ERR_SUB_LIST_TOO_OLD');
    expect(result.markedExpired).toBe(true);
    const after = await store.subscriber.getLatestImageList(id);
    expect(after?.id).toBe(stored?.id);
    expect(after?.dataHash).toBe(stored?.dataHash);
    expect(after?.expired).toBeInstanceOf(Date);
    expect((await states(id)).get(a)).toBe(1);
    // A newer list, recent enough, makes the image available again.
    http.serve(path, list(id, path, [{ identifier: a }]));
    const fresh = await update(id, policy);
    expect(fresh.result.outcome).toBe('updated');
    expect((await states(id, policy)).get(a)).toBe(3);
  });
});
