// The seed sequence with the database on a real PostgreSQL server (scripts/start-postgres.sh): `-d` /
// VMCASTER_RDBMS take a postgresql:// URL as well as the default sqlite:///vmcaster.db.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePki, type TestPki } from '@hepix/test-support';
import { checkPublished, makeImage, ok, scenario, seedSequence } from './scenario.js';

const base = mkdtempSync(join(tmpdir(), 'vmcaster-e2e-pg-'));
const database = `vmcaster_${randomBytes(6).toString('hex')}`;
let adminUrl: string;
let pki: TestPki;

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  adminUrl = process.env.TEST_POSTGRES_URL ?? '';
  expect(adminUrl, 'TEST_POSTGRES_URL is set by scripts/start-postgres.sh (globalSetup)').toMatch(
    /^postgres/,
  );
  pki = makePki(join(base, 'pki'));
  await admin(`CREATE DATABASE ${database}`);
});
afterAll(async () => {
  await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {});
  rmSync(base, { recursive: true, force: true });
});

describe('PostgreSQL store', () => {
  it('runs the seed sequence with VMCASTER_RDBMS=postgresql://…', async () => {
    const url = new URL(adminUrl);
    url.pathname = `/${database}`;
    const www = join(base, 'www');
    mkdirSync(www, { recursive: true });
    const publicBase = 'https://pg.example.org/';
    const s = scenario(base, pki, 'pg', publicBase, www, {
      server: 'pg.example.org',
      protocol: 'local',
      uriMatch: publicBase,
      uriReplace: `${www}/`,
    });
    s.env.VMCASTER_RDBMS = url.toString().replace(/^postgres:/, 'postgresql:');
    await seedSequence(s, makeImage(join(base, 'images'), 'pg.img'));
    checkPublished(s, pki, '0.0.1');
    await ok(s, `--select-imagelist ${s.list} --upload-imagelist`);
    checkPublished(s, pki, '0.0.2');
    // Nothing was written to a SQLite file in the working directory.
    expect(
      (await ok(s, ['-d', `sqlite:///${join(base, 'empty.db')}`, '--imagelist-list'])).stdout.trim(),
    ).toBe('');
  });
});
