// Glance v2: the few calls the connector makes (create, upload, patch, deactivate/reactivate, delete, members),
// each through the one HTTP client with the session's token, one retry after a 401.
import type { Readable } from 'node:stream';
import { GlanceConnectorError } from './errors.js';
import { discard, type HttpClient, type HttpRequest, type HttpResponse, readJson, readText } from './http.js';
import type { Session } from './keystone.js';

/** An image as Glance v2 returns it: the core fields plus every additional property (strings). */
export interface GlanceImage {
  id: string;
  name?: string | null;
  status: string;
  visibility?: string;
  owner?: string | null;
  tags?: string[];
  disk_format?: string | null;
  container_format?: string | null;
  size?: number | null;
  virtual_size?: number | null;
  min_ram?: number;
  min_disk?: number;
  checksum?: string | null;
  os_hash_algo?: string | null;
  os_hash_value?: string | null;
  [property: string]: unknown;
}

export interface GlanceMember {
  member_id: string;
  status: string;
}

export type JsonPatchOp =
  | { op: 'add' | 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** The fields Glance manages itself or that are not image properties (never patched as properties). */
export const CORE_FIELDS = new Set([
  'id',
  'name',
  'status',
  'visibility',
  'owner',
  'tags',
  'disk_format',
  'container_format',
  'size',
  'virtual_size',
  'min_ram',
  'min_disk',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'os_hidden',
  'protected',
  'created_at',
  'updated_at',
  'self',
  'file',
  'schema',
  'locations',
  'direct_url',
  'stores',
]);

export interface GlanceClient {
  listImages(filters?: Record<string, string>): Promise<GlanceImage[]>;
  getImage(id: string): Promise<GlanceImage | undefined>;
  createImage(body: Record<string, unknown>): Promise<GlanceImage>;
  /** Streams `data` as the image's bytes (`PUT /v2/images/{id}/file`). */
  upload(id: string, data: Readable, size: number): Promise<void>;
  patch(id: string, ops: JsonPatchOp[]): Promise<GlanceImage>;
  deactivate(id: string): Promise<void>;
  reactivate(id: string): Promise<void>;
  /** A missing image counts as deleted. */
  deleteImage(id: string): Promise<void>;
  listMembers(id: string): Promise<GlanceMember[]>;
  addMember(id: string, member: string): Promise<void>;
  removeMember(id: string, member: string): Promise<void>;
}

/** Every call goes through `http` (how long an upload may take is `createHttpClient`'s `uploadTimeoutMs`). */
export function createGlanceClient(http: HttpClient, session: Session): GlanceClient {
  async function call(
    path: string,
    req: HttpRequest,
    ok: number[],
    what: string,
    extra: { glanceId?: string; allow404?: boolean; retryable?: boolean } = {},
  ): Promise<HttpResponse | undefined> {
    for (let attempt = 0; ; attempt++) {
      const url = `${await session.endpoint()}${path}`;
      const r = await http.request(url, {
        ...req,
        headers: { ...(await session.headers()), ...req.headers },
      });
      if (ok.includes(r.status)) return r;
      const text = (await readText(r).catch(() => '')).replace(/\s+/g, ' ').slice(0, 500);
      if (r.status === 401 && attempt === 0 && extra.retryable !== false) {
        session.invalidate();
        continue;
      }
      if (r.status === 404 && extra.allow404) return undefined;
      throw new GlanceConnectorError(
        r.status === 401 || r.status === 403 ? 'ERR_GLANCE_AUTH' : 'ERR_GLANCE_HTTP',
        `Glance ${what}: HTTP ${r.status} ${text}`,
        { url, httpStatus: r.status, ...(extra.glanceId ? { glanceId: extra.glanceId } : {}) },
      );
    }
  }
  // `call` returns undefined only for an allowed 404, and callers that allow one never read JSON.
  const json = <T>(r: HttpResponse | undefined): Promise<T> => readJson<T>(r as HttpResponse);
  const done = discard;
  const enc = encodeURIComponent;

  return {
    async listImages(filters = {}) {
      const images: GlanceImage[] = [];
      let next: string | undefined = `/v2/images?${new URLSearchParams({ limit: '100', ...filters })}`;
      // Glance pages with `next` links (marker based); a bounded loop guards against a server that loops.
      for (let page = 0; next && page < 10_000; page++) {
        const r = await call(next, {}, [200], 'image list');
        const body = await json<{ images?: GlanceImage[]; next?: string }>(r);
        images.push(...(body.images ?? []));
        next = body.next;
      }
      return images;
    },
    async getImage(id) {
      const r = await call(`/v2/images/${enc(id)}`, {}, [200], `image ${id}`, {
        glanceId: id,
        allow404: true,
      });
      return r ? json<GlanceImage>(r) : undefined;
    },
    async createImage(body) {
      const r = await call(
        '/v2/images',
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
        [201],
        'image create',
      );
      return json<GlanceImage>(r);
    },
    async upload(id, data, size) {
      // A stream cannot be sent twice: no 401 retry (the token is fresh, it was just used for the create).
      await done(
        await call(
          `/v2/images/${enc(id)}/file`,
          {
            method: 'PUT',
            headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
            body: data,
            upload: true,
          },
          [204],
          `upload of ${id}`,
          { glanceId: id, retryable: false },
        ),
      );
    },
    async patch(id, ops) {
      const r = await call(
        `/v2/images/${enc(id)}`,
        {
          method: 'PATCH',
          headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
          body: JSON.stringify(ops),
        },
        [200],
        `update of ${id}`,
        { glanceId: id },
      );
      return json<GlanceImage>(r);
    },
    async deactivate(id) {
      await done(
        await call(
          `/v2/images/${enc(id)}/actions/deactivate`,
          { method: 'POST' },
          [204],
          `deactivate ${id}`,
          {
            glanceId: id,
          },
        ),
      );
    },
    async reactivate(id) {
      await done(
        await call(
          `/v2/images/${enc(id)}/actions/reactivate`,
          { method: 'POST' },
          [204],
          `reactivate ${id}`,
          {
            glanceId: id,
          },
        ),
      );
    },
    async deleteImage(id) {
      await done(
        await call(`/v2/images/${enc(id)}`, { method: 'DELETE' }, [204], `delete ${id}`, {
          glanceId: id,
          allow404: true,
        }),
      );
    },
    async listMembers(id) {
      const r = await call(`/v2/images/${enc(id)}/members`, {}, [200], `members of ${id}`, { glanceId: id });
      return (await json<{ members?: GlanceMember[] }>(r)).members ?? [];
    },
    async addMember(id, member) {
      await done(
        await call(
          `/v2/images/${enc(id)}/members`,
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ member }),
          },
          [200],
          `add member ${member} to ${id}`,
          { glanceId: id },
        ),
      );
    },
    async removeMember(id, member) {
      await done(
        await call(
          `/v2/images/${enc(id)}/members/${enc(member)}`,
          { method: 'DELETE' },
          [204],
          `remove member ${member} from ${id}`,
          { glanceId: id, allow404: true },
        ),
      );
    },
  };
}
