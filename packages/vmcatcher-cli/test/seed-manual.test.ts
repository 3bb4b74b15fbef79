// The vmcatcher manual's command sequence (seeds 002/003), run as written through bash against the built
// bins, with a list signed by the openssl CLI. Then the same tools over a real HTTPS server on 127.0.0.1.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  makeListJson,
  makePki,
  makeTempDir,
  signWithOpenssl,
  startHttpsServer,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const DAY = 86_400_000;
const LIST = '63175437-7d59-4851-b333-c96cb6545a86';
const IMAGES = [
  '327016b0-6508-41d2-bce0-c1724cb3d3e2',
  '858a817e-0ca2-473f-89d3-d5bdfc51968e',
  'da42ca85-179b-4873-b12e-32d549bf02b6',
];
const dist = fileURLToPath(new URL('../dist/bin/', import.meta.url));
const BINS = ['vmcatcher', 'vmcatcher_endorser', 'vmcatcher_subscribe', 'vmcatcher_image', 'vmcatcher_cache'];

let tmp: string;
let work: string;
let bin: string;
let pki: TestPki;
let https: TestServer;
const image = { uri: '', sha512: '', size: 0 };

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function sh(script: string, cwd = work, extraEnv: Record<string, string> = {}): Run {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    VMCATCHER_DIR_CERT: pki.certDir,
    ...extraEnv,
  };
  delete env.VMCATCHER_RDBMS;
  delete env.VMCATCHER_OUTPUT_FORMAT;
  delete env.VMCATCHER_LOG_CONF;
  delete env.HTTPS_PROXY;
  delete env.https_proxy;
  const r = spawnSync('bash', ['-c', script], { cwd, env, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The HTTPS server runs in this process: commands that reach it must not block the event loop.
function shAsync(script: string, cwd: string): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    VMCATCHER_DIR_CERT: pki.certDir,
  };
  for (const k of [
    'VMCATCHER_RDBMS',
    'VMCATCHER_OUTPUT_FORMAT',
    'VMCATCHER_LOG_CONF',
    'HTTPS_PROXY',
    'https_proxy',
  ])
    delete env[k];
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function list(version: string, overrides: { uri?: string; created?: Date } = {}) {
  return makeListJson({
    identifier: LIST,
    version,
    created: overrides.created ?? new Date(Date.now() - DAY),
    expires: new Date(Date.now() + 28 * DAY),
    uri: overrides.uri ?? 'https://cernvm.cern.ch/releases/image.list',
    dn: pki.endorser.subject,
    ca: pki.endorser.issuer,
    images: IMAGES.map((identifier) =>
      identifier === IMAGES[1]
        ? { identifier, uri: image.uri, sha512: image.sha512, size: image.size }
        : { identifier },
    ),
    extra: { 'dc:description': 'CERN Virtual Machine' },
  });
}

beforeAll(async () => {
  tmp = makeTempDir('hepix-cli-');
  pki = makePki(join(tmp, 'pki'));
  bin = join(tmp, 'bin');
  mkdirSync(bin);
  for (const b of BINS) symlinkSync(join(dist, `${b}.js`), join(bin, b));
  work = join(tmp, 'work');
  mkdirSync(work);
  // The image the manual caches (858a817e-…), published as a local file.
  const imageBytes = Buffer.alloc(256 * 1024, 'vm image ');
  const imagePath = join(tmp, 'images', '858a817e.img');
  mkdirSync(join(tmp, 'images'));
  writeFileSync(imagePath, imageBytes);
  image.uri = pathToFileURL(imagePath).href;
  image.sha512 = createHash('sha512').update(imageBytes).digest('hex');
  image.size = imageBytes.length;
  writeFileSync(join(work, 'hepix_signed_image_list'), signWithOpenssl(list('1'), pki.endorser, tmp));
  https = await startHttpsServer(pki.server.cert, pki.server.key);
}, 120_000);

afterAll(async () => {
  await https?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const imageLines = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
    .sort((a, b) => a[0].localeCompare(b[0]));

describe('the manual, as written', () => {
  it('create endorser, -l, -s file:///`pwd`/..., image -l (0), -U, image -l (2), -a -u, image -l (3)', () => {
    let r = sh(`vmcatcher_endorser --create \\
      --endorser_uuid='Owen Synge' \\
      --subject='/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge' \\
      --issuer='/C=DE/O=GermanGrid/CN=HEPiX Test CA'`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);

    r = sh('vmcatcher_endorser -l');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      "'Owen Synge'\t'/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge'\t'/C=DE/O=GermanGrid/CN=HEPiX Test CA'\n",
    );

    r = sh('vmcatcher_subscribe -v -s file:///`pwd`/hepix_signed_image_list');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("INFO:main:Defaulting DB connection to 'sqlite:///vmcatcher.db'");
    expect(r.stderr).toContain('WARNING:db_actions:list hv:uri does not match subscription uri');

    r = sh('vmcatcher_image -l');
    expect(r.status).toBe(0);
    expect(imageLines(r.stdout)).toEqual(IMAGES.map((i) => [i, '0', LIST]));

    r = sh('vmcatcher_subscribe -v -U');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`INFO:db_actions:Updating:${LIST}`);

    r = sh('vmcatcher_image -l');
    expect(imageLines(r.stdout)).toEqual(IMAGES.map((i) => [i, '2', LIST]));

    r = sh('vmcatcher_image -a -u 858a817e-0ca2-473f-89d3-d5bdfc51968e');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');

    r = sh('vmcatcher_image -l');
    expect(imageLines(r.stdout)).toEqual(IMAGES.map((i) => [i, i.startsWith('858a') ? '3' : '2', LIST]));

    // "Make the directories for caching the images. Now cache the images."
    expect(sh('mkdir cache cache/partial cache/expired').status).toBe(0);
    // The image is a local file here: a site serving images from a local mirror allows file: URIs explicitly.
    r = sh('vmcatcher_cache');
    expect(r.status).toBe(87);
    expect(r.stderr).toContain('image URI is a local file (file:), refused');
    r = sh('VMCATCHER_CACHE_ALLOW_FILE_URIS=1 vmcatcher_cache');
    expect(r.status).toBe(0);
    expect(readFileSync(join(work, 'cache', '858a817e-0ca2-473f-89d3-d5bdfc51968e')).length).toBe(image.size);
    r = sh('find cache/ | sort');
    expect(r.stdout).toContain('cache/858a817e-0ca2-473f-89d3-d5bdfc51968e\n');
    expect(r.stdout).toContain('cache/cache.index\n');
    expect(r.stdout).toContain('cache/partial/cache.index\n');
    expect(r.stdout).toContain('cache/expired/cache.index\n');
  });

  it('-l, -i by --uuid and by -r, -f message, -f SMIME, --json', () => {
    let r = sh('vmcatcher_subscribe -l');
    expect(r.status).toBe(0);
    const fileUri = `file:///${work}/hepix_signed_image_list`;
    expect(r.stdout).toBe(`${LIST}\tTrue\tBrowser\t${fileUri}\n`);

    r = sh(`vmcatcher_subscribe -i --uuid=${LIST}`);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`subscription.dc:identifier=${LIST}\n`);
    expect(r.stdout).toContain('subscription.dc:description=CERN Virtual Machine\n');
    expect(r.stdout).toContain('subscription.sl:authorised=True\n');
    expect(r.stdout).toContain(`subscription.hv:uri=${fileUri}\n`);
    expect(r.stdout).toMatch(/subscription\.dc:date:updated=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n/);
    expect(r.stdout).toContain('imagelist.expired=False\n');
    expect(r.stdout).toMatch(/imagelist\.dc:date:created=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n/);

    const byUri = sh(`vmcatcher_subscribe -i -r ${fileUri}`);
    expect(byUri.stdout).toBe(r.stdout);

    r = sh(`vmcatcher_subscribe -i --uid=${LIST} -f message`);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)['hv:imagelist']['dc:identifier']).toBe(LIST);

    r = sh(`vmcatcher_subscribe -i --uid=${LIST} -f SMIME`);
    expect(r.stdout).toBe(readFileSync(join(work, 'hepix_signed_image_list'), 'utf8'));

    r = sh('vmcatcher subscribe -l --json');
    expect(JSON.parse(r.stdout)).toEqual([
      { authorised: true, identifier: LIST, trustAnchor: 'Browser', updateMode: 0, uri: fileUri },
    ]);
    r = sh('VMCATCHER_OUTPUT_FORMAT=json vmcatcher image -l');
    expect(JSON.parse(r.stdout)).toHaveLength(3);
  });

  it('image info prints the architecture (not the hypervisor), -L logger.conf works', () => {
    let r = sh('vmcatcher_image -i -u 858a817e-0ca2-473f-89d3-d5bdfc51968e');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('image.sl:arch=x86_64\n');
    expect(r.stdout).toContain('image.hv:hypervisor=kvm\n');
    expect(r.stdout).toContain('imagedef.cache=1\n');
    expect(r.stdout).toContain('endorser:hv:subject=/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge\n');
    writeFileSync(
      join(work, 'logger.conf'),
      '[loggers]\nkeys=root\n\n[logger_root]\nlevel=DEBUG\nhandlers=\n',
    );
    r = sh('vmcatcher_image -L logger.conf -l');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('Defaulting DB connection');
    r = sh('vmcatcher_image --log-config missing.conf -l');
    expect(r.status).toBe(1);
  });

  it('endorser links, info and the -D removals', () => {
    let r = sh('vmcatcher_endorser -K');
    expect(r.stdout).toBe(`'Owen Synge'\t'${LIST}'\t'True'\n`);
    r = sh(`vmcatcher_endorser --unlink \\
      --endorser_uuid='Owen Synge' \\
      --subscription_uuid=${LIST}`);
    expect(r.status).toBe(0);
    expect(sh('vmcatcher_endorser -K').stdout).toBe('');
    expect(sh('vmcatcher_subscribe -U').status).toBe(13);
    r = sh(`vmcatcher_endorser --link \\
      --endorser_uuid='Owen Synge' \\
      --subject='/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge' \\
      --subscription_uuid=${LIST}`);
    expect(r.status).toBe(0);
    expect(sh('vmcatcher_subscribe -U').status).toBe(0);
    r = sh("vmcatcher_endorser -i -e 'Owen Synge'");
    expect(r.stdout).toContain(
      'endorser.dc:identifier=Owen Synge\nendorser.hv:dn=/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge\n',
    );
    r = sh('vmcatcher_image -D -u 858a817e-0ca2-473f-89d3-d5bdfc51968e');
    expect(r.status).toBe(0);
    expect(imageLines(sh('vmcatcher_image -l').stdout).find((l) => l[0].startsWith('858a'))?.[1]).toBe('2');
    r = sh(`vmcatcher_subscribe -D --uid=${LIST}`);
    expect(r.status).toBe(0);
    expect(sh('vmcatcher_subscribe -l').stdout).toBe('');
    expect(sh('vmcatcher_image -l').stdout).toBe('');
    r = sh(`vmcatcher_endorser --delete \\
      --endorser_uuid='Owen Synge'`);
    expect(r.status).toBe(0);
    expect(sh('vmcatcher_endorser -l').stdout).toBe('');
  });

  it('rejects usage errors with exit 2 and conflicting actions with exit 1', () => {
    expect(sh('vmcatcher_subscribe --no-such-option').status).toBe(2);
    const r = sh('vmcatcher_subscribe -l -U');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('More than one action selected.');
    expect(sh('vmcatcher_subscribe -i -u a -r b').stderr).toContain('Conflicting selectors.');
  });
});

describe('over HTTPS on 127.0.0.1', () => {
  let dir: string;
  const db = () => `sqlite:///${join(dir, 'https.db')}`;
  const url = () => `${https.url}/lists/image.list?vo=test`;

  const shA = (script: string) => shAsync(script, dir);
  beforeAll(() => {
    dir = join(tmp, 'https');
    mkdirSync(dir);
    https.routes.set('/lists/image.list', (req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('reader:s3cret-pw').toString('base64')}`) {
        res.statusCode = 401;
        res.end();
        return;
      }
      res.end(served);
    });
  });
  let served: Buffer = Buffer.alloc(0);

  it('subscribes with stored credentials and igtf TLS, never prints the password, updates, rejects', async () => {
    served = signWithOpenssl(list('1.0', { uri: url() }), pki.endorser, tmp);
    expect(
      (
        await shA(
          `vmcatcher_endorser -d ${db()} -C -e owen -S '${pki.endorser.subject}' -I '${pki.endorser.issuer}'`,
        )
      ).status,
    ).toBe(0);
    // Without --uri-trustanchor-set igtf the test CA is not trusted (system roots): 50.
    let r = await shA(
      `vmcatcher_subscribe -d ${db()} --uri-username-set reader --uri-password-set s3cret-pw -s '${url()}'`,
    );
    expect(r.status).toBe(50);
    r = await shA(
      `vmcatcher_subscribe -d ${db()} --uri-trustanchor-set igtf --uri-username-set reader --uri-password-set s3cret-pw -s '${url()}'`,
    );
    expect(r.stderr).not.toContain('s3cret-pw');
    expect(r.status).toBe(0);
    r = await shA(`vmcatcher_subscribe -d ${db()} -i -u ${LIST}`);
    expect(r.stdout).toContain('subscription.hv:uri.trustAnchor=IGTF\n');
    expect(r.stdout).toContain('subscription.hv:uri.username=reader\n');
    expect(r.stdout).toContain('subscription.hv:uri.password=********\n');
    expect(r.stdout + r.stderr).not.toContain('s3cret-pw');
    expect((await shA(`vmcatcher_subscribe -d ${db()} -i -u ${LIST} --json`)).stdout).not.toContain(
      's3cret-pw',
    );
    expect((await shA(`vmcatcher_subscribe -d ${db()} -U`)).status).toBe(0);

    served = signWithOpenssl(list('1.1', { uri: url() }), pki.endorser, tmp);
    r = await shA(`vmcatcher_subscribe -d ${db()} -U --json`);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ outcome: 'updated', status: 0, version: '1.1' });

    served = signWithOpenssl(list('1.0', { uri: url() }), pki.endorser, tmp);
    r = await shA(`vmcatcher_subscribe -d ${db()} -U --json`);
    expect(r.status).toBe(17);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ code: 'ERR_LIST_LOWER_VERSION', status: 17 });

    const text = signWithOpenssl(list('2.0', { uri: url() }), pki.endorser, tmp).toString('utf8');
    served = Buffer.from(text.replace('CERN Virtual Machine', 'CERN Virtual Machinf'));
    expect((await shA(`vmcatcher_subscribe -d ${db()} -U`)).status).toBe(11);
    expect(
      JSON.parse((await shA(`vmcatcher_subscribe -d ${db()} -i -u ${LIST} --json`)).stdout)[0]
        .ImageListInstance.version,
    ).toBe('1.1');
  });

  it('two -U runs at once serialise on the store lock and both succeed', async () => {
    served = signWithOpenssl(list('3.0', { uri: url() }), pki.endorser, tmp);
    const [a, b] = await Promise.all([
      shAsync(`vmcatcher_subscribe -d ${db()} -U`, dir),
      shAsync(`vmcatcher_subscribe -d ${db()} -U`, dir),
    ]);
    expect([a, b].map((x) => `${x.status} ${x.stderr}`)).toEqual(['0 ', '0 ']);
    expect(
      JSON.parse((await shA(`vmcatcher_subscribe -d ${db()} -i -u ${LIST} --json`)).stdout)[0]
        .ImageListInstance.version,
    ).toBe('3.0');
  });

  it('changing the update mode re-imports the list at once', async () => {
    const r = await shA(`vmcatcher_subscribe -d ${db()} --imagelist-newimage-subscribe -u ${LIST}`);
    expect(r.status).toBe(0);
    expect((await shA(`vmcatcher_subscribe -d ${db()} -l`)).stdout).toContain(
      `${LIST}\tTrue\tIGTF\t${url()}`,
    );
    expect(
      JSON.parse((await shA(`vmcatcher_subscribe -d ${db()} -i -u ${LIST} --json`)).stdout)[0].Subscription
        .updateMode,
    ).toBe(3);
  });
});
