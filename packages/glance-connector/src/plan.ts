// What Glance should look like against what it looks like, as a list of actions: a pure function over plain
// values, so `vmcatcher-glance sync --dry-run`, the event handler and the tests share one decision.
import {
  CONVERTED_SHA512_PROPERTY,
  IDENTIFIER_PROPERTY,
  type ImageFacts,
  INGEST_STEPS_PROPERTY,
  imageName,
  isHintProperty,
  LIST_PROPERTY_KEYS,
  listProperties,
  minRamMiB,
  SHA512_PROPERTY,
  SOURCE_FORMAT_PROPERTY,
} from './facts.js';
import { CORE_FIELDS, type GlanceImage, type JsonPatchOp } from './glance.js';
import type { Target } from './mapping.js';

/** An image that should be in Glance. */
export interface DesiredImage {
  facts: ImageFacts;
  target: Target;
  /** The verified cache file; absent while the cache does not hold this version yet. */
  path?: string;
}

/** A connector-managed Glance image with its members (for shared images). */
export interface ManagedImage {
  image: GlanceImage;
  members: string[];
}

export type SyncAction =
  | { kind: 'upload'; identifier: string; desired: DesiredImage & { path: string }; replaces: string[] }
  | { kind: 'update'; identifier: string; glanceId: string; patch: JsonPatchOp[] }
  | { kind: 'reactivate'; identifier: string; glanceId: string }
  | { kind: 'share'; identifier: string; glanceId: string; add: string[]; remove: string[] }
  | { kind: 'deactivate'; identifier: string; glanceId: string; reason: string }
  | { kind: 'delete'; identifier: string; glanceId: string; reason: string };

export interface PlanOptions {
  /** What happens to an image that is no longer endorsed: deleted (after deactivation), or kept deactivated. */
  expire: 'delete' | 'deactivate';
  /** The tag marking managed images. */
  tag: string;
  namePrefix?: string;
}

/** Statuses of an upload that never finished (a crash, a refused upload): such images are removed. */
const INCOMPLETE = new Set(['queued', 'saving', 'importing', 'uploading', 'killed']);
const GONE = new Set(['deleted', 'pending_delete']);

function prop(img: GlanceImage, key: string): string | undefined {
  const v = img[key];
  return typeof v === 'string' ? v : undefined;
}

function identifierOf(img: GlanceImage): string | undefined {
  return prop(img, IDENTIFIER_PROPERTY);
}

/** The list sha512 a managed image holds. */
export function versionOf(img: GlanceImage): string | undefined {
  return prop(img, SHA512_PROPERTY)?.toLowerCase();
}

/** Properties the connector owns on a managed image (it removes those the list no longer gives). */
function owned(key: string): boolean {
  return (
    (LIST_PROPERTY_KEYS as readonly string[]).includes(key) ||
    isHintProperty(key) ||
    key === CONVERTED_SHA512_PROPERTY ||
    key === SOURCE_FORMAT_PROPERTY ||
    key === INGEST_STEPS_PROPERTY
  );
}

/**
 * The JSON patch that brings a managed image's metadata to what the list and mapping say, without touching
 * its bytes or what the upload recorded (min_disk, the converted hash, the source format).
 */
export function metadataPatch(img: GlanceImage, desired: DesiredImage, options: PlanOptions): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  const want = listProperties(desired.facts);
  for (const [k, v] of Object.entries(want)) {
    if (img[k] === v) continue;
    ops.push({ op: img[k] === undefined ? 'add' : 'replace', path: `/${k}`, value: v });
  }
  for (const k of Object.keys(img)) {
    if (CORE_FIELDS.has(k) || !owned(k) || k in want) continue;
    if (k === CONVERTED_SHA512_PROPERTY || k === SOURCE_FORMAT_PROPERTY || k === INGEST_STEPS_PROPERTY)
      continue;
    ops.push({ op: 'remove', path: `/${k}` });
  }
  const name = imageName(desired.facts, options.namePrefix);
  if (img.name !== name) ops.push({ op: 'replace', path: '/name', value: name });
  const minRam = minRamMiB(desired.facts.image);
  if ((img.min_ram ?? 0) !== minRam) ops.push({ op: 'replace', path: '/min_ram', value: minRam });
  if (img.visibility !== desired.target.visibility)
    ops.push({ op: 'replace', path: '/visibility', value: desired.target.visibility });
  if (desired.target.project && img.owner !== desired.target.project)
    ops.push({ op: 'replace', path: '/owner', value: desired.target.project });
  if (!(img.tags ?? []).includes(options.tag))
    ops.push({ op: 'replace', path: '/tags', value: [...(img.tags ?? []), options.tag].sort() });
  return ops;
}

function shareAction(m: ManagedImage, desired: DesiredImage): SyncAction | undefined {
  const want = desired.target.visibility === 'shared' ? desired.target.members : [];
  const add = want.filter((p) => !m.members.includes(p));
  const remove = m.members.filter((p) => !want.includes(p)).sort();
  if (!add.length && !remove.length) return undefined;
  const identifier = desired.facts.identifier;
  return { kind: 'share', identifier, glanceId: m.image.id, add, remove };
}

function retire(
  m: ManagedImage,
  identifier: string,
  mode: PlanOptions['expire'],
  reason: string,
): SyncAction[] {
  const out: SyncAction[] = [];
  const id = m.image.id;
  if (INCOMPLETE.has(m.image.status))
    return [{ kind: 'delete', identifier, glanceId: id, reason: `${reason}; upload incomplete` }];
  if (m.image.status === 'active') out.push({ kind: 'deactivate', identifier, glanceId: id, reason });
  if (mode === 'delete') out.push({ kind: 'delete', identifier, glanceId: id, reason });
  // Kept deactivated: members would still see a stale entry in their list.
  else if (m.members.length)
    out.push({ kind: 'share', identifier, glanceId: id, add: [], remove: [...m.members] });
  return out;
}

/**
 * The actions that make the managed images (`actual`, found by tag and identifier property) match `desired`,
 * per image identifier:
 * - the version (list sha512) cached and not in Glance: upload it; older versions are deactivated first and
 *   deleted once it is active (`replaces`);
 * - that version in Glance: reactivate it if needed, patch metadata and members that differ, delete older ones;
 * - wanted but not cached yet: keep what holds that version, deactivate older versions (their list replaced
 *   them), delete nothing;
 * - not wanted: deactivate, then delete or keep deactivated (`expire`);
 * - unfinished uploads are deleted; duplicates of a version are deleted, keeping the active one.
 */
export function planSync(
  desired: DesiredImage[],
  actual: ManagedImage[],
  options: PlanOptions,
): SyncAction[] {
  const byId = new Map<string, ManagedImage[]>();
  for (const m of actual) {
    const id = identifierOf(m.image);
    if (!id || GONE.has(m.image.status)) continue;
    byId.set(id, [...(byId.get(id) ?? []), m]);
  }
  const wanted = new Map<string, DesiredImage>();
  for (const d of desired) if (!wanted.has(d.facts.identifier)) wanted.set(d.facts.identifier, d);
  const identifiers = [...new Set([...wanted.keys(), ...byId.keys()])].sort();
  const actions: SyncAction[] = [];

  for (const identifier of identifiers) {
    const d = wanted.get(identifier);
    const images = byId.get(identifier) ?? [];
    if (!d) {
      for (const m of images) actions.push(...retire(m, identifier, options.expire, 'no longer endorsed'));
      continue;
    }
    const broken = images.filter((m) => INCOMPLETE.has(m.image.status));
    for (const m of broken)
      actions.push({ kind: 'delete', identifier, glanceId: m.image.id, reason: 'upload incomplete' });
    const complete = images.filter((m) => !INCOMPLETE.has(m.image.status));
    const same = complete
      .filter((m) => versionOf(m.image) === d.facts.sha512)
      .sort((a, b) => Number(b.image.status === 'active') - Number(a.image.status === 'active'));
    const older = complete.filter((m) => versionOf(m.image) !== d.facts.sha512);
    const keep = same[0];
    for (const dup of same.slice(1))
      actions.push({
        kind: 'delete',
        identifier,
        glanceId: dup.image.id,
        reason: 'duplicate of the same version',
      });

    if (keep) {
      if (keep.image.status === 'deactivated' && d.path)
        actions.push({ kind: 'reactivate', identifier, glanceId: keep.image.id });
      const patch = metadataPatch(keep.image, d, options);
      const update: SyncAction[] = patch.length
        ? [{ kind: 'update', identifier, glanceId: keep.image.id, patch }]
        : [];
      const share = shareAction(keep, d);
      // Glance takes members only while an image is shared: members go before it stops being shared, and
      // come after it becomes shared.
      if (d.target.visibility === 'shared') actions.push(...update, ...(share ? [share] : []));
      else actions.push(...(share ? [share] : []), ...update);
    }
    if (!d.path) {
      // The list moved on to a version the cache does not hold yet: the old one must not be used, but it is
      // kept until its replacement is active.
      for (const m of older)
        if (m.image.status === 'active')
          actions.push({
            kind: 'deactivate',
            identifier,
            glanceId: m.image.id,
            reason: 'replaced by a newer version not cached yet',
          });
      continue;
    }
    if (!keep) {
      actions.push({
        kind: 'upload',
        identifier,
        desired: d as DesiredImage & { path: string },
        replaces: older.map((m) => m.image.id),
      });
      continue;
    }
    for (const m of older) actions.push(...retire(m, identifier, 'delete', 'replaced by a newer version'));
  }
  return actions;
}

/** One line per action, for `--dry-run` and logs. */
export function describeAction(a: SyncAction): string {
  switch (a.kind) {
    case 'upload':
      return `upload ${a.identifier} (sha512 ${a.desired.facts.sha512.slice(0, 16)}…, ${a.desired.target.visibility}${a.desired.target.project ? ` in ${a.desired.target.project}` : ''})${a.replaces.length ? `, replacing ${a.replaces.join(', ')}` : ''}`;
    case 'update':
      return `update ${a.identifier} ${a.glanceId}: ${a.patch.map((o) => `${o.op} ${o.path.slice(1)}`).join(', ')}`;
    case 'reactivate':
      return `reactivate ${a.identifier} ${a.glanceId}`;
    case 'share':
      return `share ${a.identifier} ${a.glanceId}:${a.add.length ? ` add ${a.add.join(', ')}` : ''}${a.remove.length ? ` remove ${a.remove.join(', ')}` : ''}`;
    case 'deactivate':
      return `deactivate ${a.identifier} ${a.glanceId} (${a.reason})`;
    case 'delete':
      return `delete ${a.identifier} ${a.glanceId} (${a.reason})`;
  }
}
