// The web pages in a real browser (Debian's chromium driven by playwright-core): search with filters, a
// detail page, an upload through the form, the error for a tampered list, and hostile publisher text that
// must never execute.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, type MarketplaceServer, startMarketplace } from '../src/index.js';
import { makePki, signedList, type TestPki, tampered, tempDir } from './helpers.js';

// Without these flags chromium waits for the (closed) network at start.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const work = tempDir();
let pki: TestPki;
let server: MarketplaceServer;
let browser: BrowserContext;
let page: Page;
const LIST = '44444444-0000-4000-8000-000000000001';
const HOSTILE = '44444444-0000-4000-8000-000000000002';
const img = (n: number) => `dddddddd-0000-4000-8000-${String(n).padStart(12, '0')}`;
const EVIL_TITLE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';

beforeAll(async () => {
  pki = makePki(join(work.dir, 'pki'));
  server = await startMarketplace({
    db: `sqlite:///${join(work.dir, 'market.db')}`,
    listen: '127.0.0.1:0',
    certDir: pki.certDir,
  });
  const upload = (data: Uint8Array) => fetch(`${server.url}/api/lists`, { method: 'POST', body: data });
  await upload(
    signedList(
      pki,
      {
        identifier: LIST,
        version: '1',
        images: [
          {
            identifier: img(1),
            title: 'ttylinux v14.0 x86_64',
            os: 'ttylinux',
            osversion: '14.0',
            format: 'raw',
          },
          {
            identifier: img(2),
            title: 'openSUSE v12.1 x86_64',
            os: 'openSUSE',
            osversion: '12.1',
            extra: { 'sl:locations': ['https://mirror.example.org/opensuse.img'] },
          },
          {
            identifier: img(3),
            title: 'Old openSUSE',
            os: 'openSUSE',
            extra: { 'sl:deprecated': 'use 12.1' },
          },
        ],
      },
      work.dir,
    ),
  );
  await upload(
    signedList(
      pki,
      {
        identifier: HOSTILE,
        version: '1',
        title: EVIL_TITLE,
        images: [
          {
            identifier: img(4),
            title: EVIL_TITLE,
            os: 'Evil',
            description: '"><svg onload="window.__pwned=3"></svg><a href="javascript:window.__pwned=4">x</a>',
            uri: 'javascript:window.__pwned=5',
            extra: { 'sl:locations': ['javascript:window.__pwned=6', 'data:text/html,<script>1</script>'] },
          },
        ],
      },
      work.dir,
    ),
  );
  browser = await chromium.launchPersistentContext(mkdtempSync(join(work.dir, 'chromium-')), {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
  });
  page = browser.pages()[0] ?? (await browser.newPage());
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  work.dispose();
});

// Runs in the page, where globalThis is the window a hostile script would have written to.
const pwned = () => page.evaluate(() => (globalThis as { __pwned?: number }).__pwned);

describe('web pages in chromium', () => {
  it('searches with filters and pages through the appliance summaries', async () => {
    const r = await page.goto(`${server.url}/`);
    expect(r?.headers()['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    await expect.poll(() => page.locator('ol.appliances > li').count()).toBe(3);
    await page.fill('input[name="os"]', 'opensuse');
    await page.click('button[type="submit"]');
    await page.waitForURL(/os=opensuse/);
    const titles = await page.locator('ol.appliances h2 a').allTextContents();
    expect(titles).toEqual(['openSUSE v12.1 x86_64']);
    expect(await page.locator('.count').textContent()).toBe('Showing 1 to 1 of 1 entries');
    await page.selectOption('select[name="status"]', 'deprecated');
    await page.click('button[type="submit"]');
    await page.waitForURL(/status=deprecated/);
    expect(await page.locator('ol.appliances h2 a').allTextContents()).toEqual(['Old openSUSE']);
    // Paging: one entry per page.
    await page.goto(`${server.url}/?limit=1&sort=title&order=asc&q=x86_64`);
    expect(await page.locator('ol.appliances h2 a').allTextContents()).toEqual(['openSUSE v12.1 x86_64']);
    await page.click('a[rel="next"]');
    expect(await page.locator('ol.appliances h2 a').allTextContents()).toEqual(['ttylinux v14.0 x86_64']);
    expect(await page.locator('.count').textContent()).toBe('Showing 2 to 2 of 2 entries');
    expect(await page.locator('a[rel="next"]').count()).toBe(0);
  });

  it('opens a detail page: checksums, locations, endorser, the list and its download', async () => {
    await page.goto(`${server.url}/?os=opensuse`);
    await page.click('text=More…');
    await page.waitForURL(new RegExp(`/images/${img(2)}$`));
    const details = await page.locator('table.details').textContent();
    expect(details).toContain('openSUSE');
    expect(details).toContain('owen@example.org');
    expect(await page.locator('table.checksums td').textContent()).toMatch(/^[0-9a-f]{128}$/);
    expect(
      await page
        .locator('ul.locations a')
        .evaluateAll((as) => as.map((a) => (a as unknown as { href: string }).href)),
    ).toEqual([`https://example.org/${img(2)}.img`, 'https://mirror.example.org/opensuse.img']);
    const download = await page.locator('table.lists a[download]').getAttribute('href');
    expect(download).toBe(`/lists/${LIST}.smime`);
    // (The page itself may not fetch anything: the CSP has no connect-src.)
    const r = await fetch(new URL(download!, server.url));
    expect([r.status, r.headers.get('content-disposition')]).toEqual([
      200,
      `attachment; filename="${LIST}.smime"`,
    ]);
  });

  it('uploads through the form, and shows the error for a tampered list', async () => {
    const good = join(work.dir, 'good.smime');
    writeFileSync(
      good,
      signedList(pki, { identifier: LIST, version: '2', created: new Date(), images: [] }, work.dir),
    );
    await page.goto(`${server.url}/upload`);
    await page.setInputFiles('input[type="file"]', good);
    await page.click('button[type="submit"]');
    await expect
      .poll(() => page.locator('.notice.ok').textContent())
      .toContain(`Stored list ${LIST} version 2`);

    const bad = join(work.dir, 'bad.smime');
    writeFileSync(
      bad,
      tampered(
        signedList(pki, { identifier: LIST, version: '3', created: new Date(), images: [] }, work.dir),
      ),
    );
    await page.goto(`${server.url}/upload`);
    await page.setInputFiles('input[type="file"]', bad);
    await page.click('button[type="submit"]');
    await expect.poll(() => page.locator('.notice.error .code').textContent()).toBe('ERR_MARKET_SIGNATURE');
    expect(await page.locator('.notice.error .message').textContent()).toMatch(/ERR_SMIME_DIGEST_MISMATCH/);
    const list = (await (await fetch(`${server.url}/api/lists/${LIST}`)).json()) as { version: string };
    expect(list.version).toBe('2');
  });

  it('shows hostile titles, descriptions and locations as text and never runs them', async () => {
    await page.goto(`${server.url}/?os=evil`);
    expect(await page.locator('ol.appliances h2 a').first().textContent()).toBe(EVIL_TITLE);
    expect(await pwned()).toBeUndefined();
    await page.click('text=More…');
    await page.waitForURL(new RegExp(`/images/${img(4)}$`));
    expect(await page.locator('p.description').textContent()).toContain('<svg onload=');
    // No link for javascript: or data: locations; they are shown as text.
    expect(await page.locator('a[href^="javascript:"], a[href^="data:"]').count()).toBe(0);
    expect(await page.locator('ul.locations li').allTextContents()).toEqual(['javascript:window.__pwned=5']);
    expect(await page.locator('img, svg, script').count()).toBe(0);
    expect(await pwned()).toBeUndefined();
    await page.goto(`${server.url}/endorsers`);
    expect(await pwned()).toBeUndefined();
  });
});
