// `@hepix/smime-x509/dn` must stay light: the store and the publisher import it for canonicalDn(), and must not
// pay for (or be polluted by) reflect-metadata and the @peculiar ASN.1 stack. The package is built as it is
// published (both entries, shared chunks) into a scratch folder, each entry is imported in a fresh Node with a
// module hook that records every module loaded, and the lists are compared.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { removeDir } from '@hepix/test-support';
import { build } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
};
// Inside the package, so that its dependencies resolve from its node_modules.
const out = join(pkg, '.tmp', `subpath-${process.pid}`);
afterAll(() => removeDir(out));

const HOOK = `
import { appendFileSync } from 'node:fs';
let log;
export async function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(log, r.url + '\\n');
  return r;
}
`;

/** Every module URL loaded by importing `entry` in a fresh Node process. */
function modulesLoadedBy(entry: string): string[] {
  const log = join(out, `${entry}.log`);
  writeFileSync(log, '');
  const main = `
    import { register } from 'node:module';
    register(${JSON.stringify(pathToFileURL(join(out, 'hook.mjs')).href)}, { data: { log: ${JSON.stringify(log)} } });
    const m = await import(${JSON.stringify(pathToFileURL(join(out, `${entry}.js`)).href)});
    if (typeof m.canonicalDn !== 'function') throw new Error('no canonicalDn');
    console.log(m.canonicalDn('subject=DC = ch, CN = Jane Doe'));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', main], { encoding: 'utf8', cwd: out });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout.trim()).toBe('/DC=ch/CN=Jane Doe');
  return readFileSync(log, 'utf8').trim().split('\n');
}

beforeAll(async () => {
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'hook.mjs'), HOOK);
  // The published build: same entries and format as tsup.config.ts; @hepix/common bundled in, so that the
  // test does not depend on another package's dist/ (it has no dependencies of its own).
  await build({
    config: false,
    entry: { index: join(pkg, 'src/index.ts'), dn: join(pkg, 'src/dn.ts') },
    outDir: out,
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    dts: false,
    silent: true,
    // As published: the npm dependencies stay imports (tsup would otherwise take them from the package.json of
    // whatever directory vitest runs in); @hepix/* are bundled.
    external: Object.keys(manifest.dependencies).filter((d) => !d.startsWith('@hepix/')),
    noExternal: [/^@hepix\//],
    tsconfig: join(pkg, 'tsconfig.json'),
    esbuildOptions(options) {
      options.alias = { '@hepix/common': join(pkg, '../common/src/index.ts') };
    },
  });
}, 120_000);

const heavy = (url: string) => /reflect-metadata|@peculiar|asn1js|pvtsutils/.test(url);

describe('@hepix/smime-x509/dn', () => {
  it('loads neither reflect-metadata nor any @peculiar module', () => {
    const loaded = modulesLoadedBy('dn');
    expect(loaded.filter((u) => u.startsWith('file:')).length).toBeGreaterThan(0);
    expect(loaded.filter(heavy)).toEqual([]);
  });

  it('while the main entry does load them (so the check above can see them)', () => {
    const loaded = modulesLoadedBy('index');
    expect(loaded.some((u) => u.includes('reflect-metadata'))).toBe(true);
    expect(loaded.some((u) => u.includes('@peculiar/x509'))).toBe(true);
  });
});
