// Writes the example's image lists (JSON, not yet signed) into DIR, for the endorser DN and CA given:
//   node make-lists.mjs DIR DN CA
// Appliances as in the StratusLab tutorial's screenshot; one deprecated, one with mirror locations.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, dn, ca] = process.argv.slice(2);
const fmt = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const now = Date.now();
const day = 86_400_000;
const sha = (seed) => Buffer.from(seed).toString('hex').padEnd(128, '0').slice(0, 128);

function image(id, title, os, osversion, description, extra = {}) {
  return {
    'hv:image': {
      'dc:description': description,
      'dc:identifier': id,
      'dc:title': title,
      'hv:format': 'raw',
      'hv:hypervisor': 'kvm',
      'hv:size': 102400000,
      'hv:uri': `https://appliances.example.org/images/${id}.img.gz`,
      'hv:version': '1.0',
      'sl:arch': 'x86_64',
      'sl:checksum:sha512': sha(id),
      'sl:comments': '',
      'sl:os': os,
      'sl:osversion': osversion,
      ...extra,
    },
  };
}

function list(id, title, email, images, expiresInDays) {
  return {
    'hv:imagelist': {
      'dc:date:created': fmt(new Date(now - 60_000)),
      'dc:date:expires': fmt(new Date(now + expiresInDays * day)),
      'dc:description': `${title}, endorsed by ${email}`,
      'dc:identifier': id,
      'dc:source': 'https://appliances.example.org/',
      'dc:title': title,
      'hv:endorser': { 'hv:x509': { 'dc:creator': 'Example Endorser', 'hv:ca': ca, 'hv:dn': dn, 'hv:email': email } },
      'hv:images': images,
      'hv:uri': `https://appliances.example.org/lists/${id}.list`,
      'hv:version': '1',
    },
  };
}

const lists = {
  'base-images': list(
    '5a7a0e1c-4b0e-4f6e-9d51-000000000001',
    'Base images',
    'airaj@example.org',
    [
      image(
        'b1e2c3d4-0000-4000-8000-000000000001',
        'ttylinux v14.0 x86_64',
        'ttylinux',
        '14.0',
        'ttylinux v14.0 x86_64 base image. Uses the standard contextualization mechanisms.',
        { 'sl:locations': ['https://mirror.example.org/ttylinux-14.0.img.gz'] },
      ),
      image(
        'b1e2c3d4-0000-4000-8000-000000000002',
        'ttylinux v13.0 x86_64',
        'ttylinux',
        '13.0',
        'The previous ttylinux base image.',
        { 'sl:deprecated': 'superseded by ttylinux v14.0' },
      ),
      image(
        'b1e2c3d4-0000-4000-8000-000000000003',
        'openSUSE v12.1 x86_64',
        'openSUSE',
        '12.1',
        'openSUSE 12.1 base image automatically created. Configured only with a root user.',
      ),
    ],
    180,
  ),
  'bio-images': list(
    '5a7a0e1c-4b0e-4f6e-9d51-000000000002',
    'Bioinformatics appliances',
    'bio@example.org',
    [image('b1e2c3d4-0000-4000-8000-000000000004', 'BIO compute node', 'CentOS', '7', 'A compute node with bioinformatics tools.')],
    10,
  ),
};
for (const [name, doc] of Object.entries(lists)) {
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(doc, null, 4)}\n`);
}
console.log(Object.keys(lists).join(' '));
