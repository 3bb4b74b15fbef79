// One bench worker: puts images index, index+count, … of the shared set with putVerified. Prints {created}.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createObjectStore, imageKey, putVerified } from '../dist/index.js';

const [url, index, count, images, mib] = process.argv.slice(2).map((v, i) => (i === 0 ? v : Number(v)));
const MiB = 1024 ** 2;
const chunk = (img, i) => {
  const b = Buffer.alloc(MiB, (img * 31 + i) % 251);
  b.writeUInt32BE(img, 0);
  b.writeUInt32BE(i, 4);
  return b;
};
const body = (img) =>
  Readable.from(
    (function* () {
      for (let i = 0; i < mib; i++) yield chunk(img, i);
    })(),
    { objectMode: false },
  );
const sha512 = (img) => {
  const h = createHash('sha512');
  for (let i = 0; i < mib; i++) h.update(chunk(img, i));
  return h.digest('hex');
};
const store = createObjectStore({ url });
let created = 0;
for (let img = index; img < images; img += count) {
  const h = sha512(img);
  const r = await putVerified(store, imageKey(h), body(img), {
    expectedSha512: h,
    expectedSize: mib * MiB,
    partSize: 8 * MiB,
  });
  if (r.created) created++;
}
store.close();
process.stdout.write(JSON.stringify({ created }));
