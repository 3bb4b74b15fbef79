// Lists shaped like the ones real publishers emit (reference §1.3, §1.4): AppDB, vmcaster, vmilisttool.
import { describe, expect, it } from 'vitest';
import {
  imageSize,
  listEndorsers,
  serializeImageList,
  validateImageList,
  validateImageListDetailed,
} from '../src/index.js';
import { example, invalid, paths } from './helpers.js';

const SHA = 'ab'.repeat(64);
const endorser = () => example()['hv:imagelist']['hv:endorser'];

/** AppDB: integers as strings, empty comments, ad:* keys, per-image expiry. */
function appdbList() {
  return {
    'hv:imagelist': {
      'ad:num_of_images': '1',
      'ad:publisher:name': 'EGI Applications Database',
      'ad:swid': '1089',
      'ad:vo': 'vo.example.org',
      'dc:date:created': '2024-03-01T10:00:00Z',
      'dc:date:expires': '2499-12-31T22:00:00Z',
      'dc:description': 'Image list of the VO vo.example.org',
      'dc:identifier': 'b4e4fd8f-7e7a-4b4b-9a07-0a4fd2f6d0a1',
      'dc:source': 'https://appdb.example.org/',
      'dc:title': 'Image list for VO vo.example.org',
      'hv:endorser': endorser(),
      'hv:images': [
        {
          'hv:image': {
            'ad:group': 'General group',
            'ad:mpuri': 'https://appdb.example.org/store/vm/image/5f3a2b7c-1111-4222-8333-944455556666:12/',
            'ad:ram_recommended': '1024',
            'ad:user:fullname': 'Example Uploader',
            'ad:user:guid': '9f1c2f9a-0000-4000-8000-000000000001',
            'dc:date:expires': '2499-12-31T22:00:00Z',
            'dc:description': 'CentOS image with contextualisation',
            'dc:identifier': '5f3a2b7c-1111-4222-8333-944455556666',
            'dc:title': 'Image [CentOS/7/VirtualBox]',
            'hv:core_minimum': '1',
            'hv:format': 'OVA',
            'hv:hypervisor': 'VirtualBox',
            'hv:ram_minimum': '512',
            'hv:size': '121243136',
            'hv:uri': 'https://cloud.example.org/images/centos7.ova',
            'hv:version': '2017.03.01-1',
            'sl:arch': 'x86_64',
            'sl:checksum:sha512': SHA,
            'sl:comments': '',
            'sl:os': 'Linux',
            'sl:osname': 'CentOS',
            'sl:osversion': '7',
          },
        },
      ],
      'hv:uri': 'https://vmcaster.appdb.example.org/store/vo/vo.example.org/image.list',
      'hv:version': '20240301100000',
    },
  };
}

/** vmcaster with two endorsers bound: everything a string except hv:size, hv:endorser an array. */
function vmcasterList() {
  const second = endorser();
  second['hv:x509']['hv:dn'] = '/C=DE/O=GermanGrid/OU=DESY/CN=Second Endorser';
  const doc = example();
  const body = doc['hv:imagelist'];
  delete body['ad:vo'];
  body['hv:endorser'] = [endorser(), second];
  const image = body['hv:images'][0]['hv:image'];
  for (const k of ['hv:core_minimum', 'hv:ram_minimum']) image[k] = String(image[k]);
  body['hv:version'] = '0.0.12';
  return doc;
}

describe('lists as real publishers emit them', () => {
  it('AppDB: compatible accepts it as it is, without warnings', () => {
    const input = appdbList();
    const { list, warnings } = validateImageListDetailed(JSON.stringify(input));
    expect(warnings).toEqual([]);
    expect(list).toEqual(input);
    const image = list['hv:imagelist']['hv:images'][0]!['hv:image'];
    expect(image['hv:size']).toBe('121243136');
    expect(imageSize(image)).toBe(121243136);
  });

  it('AppDB: strict names each thing a publisher must fix', () => {
    const err = invalid(() => validateImageList(appdbList(), { mode: 'strict' }));
    const I = '/hv:imagelist/hv:images/0/hv:image';
    expect(paths(err.issues).sort()).toEqual(
      [`${I}/hv:core_minimum`, `${I}/hv:ram_minimum`, `${I}/hv:size`, `${I}/sl:comments`].sort(),
    );
  });

  it('vmcaster with two endorsers: compatible warns, strict refuses', () => {
    const { list, warnings } = validateImageListDetailed(vmcasterList());
    expect(paths(warnings)).toEqual(['/hv:imagelist/hv:endorser']);
    expect(listEndorsers(list)).toHaveLength(2);
    const err = invalid(() => validateImageList(vmcasterList(), { mode: 'strict' }));
    expect(paths(err.issues)).toEqual([
      '/hv:imagelist/hv:endorser',
      '/hv:imagelist/hv:images/0/hv:image/hv:core_minimum',
      '/hv:imagelist/hv:images/0/hv:image/hv:ram_minimum',
    ]);
  });

  it('vmilisttool / Python 2 json.dumps(indent=4) text with trailing spaces and CRLF (signed content) parses', () => {
    const python2 = serializeImageList(example()).replace(/,\n/g, ', \n').replace(/\n/g, '\r\n');
    expect(python2).toContain('", \r\n');
    const { list, warnings } = validateImageListDetailed(Buffer.from(python2), { mode: 'strict' });
    expect(warnings).toEqual([]);
    expect(list).toEqual(example());
  });
});
