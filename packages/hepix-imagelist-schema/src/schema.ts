import schemaJson from './schema.json' with { type: 'json' };

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * The HEPiX image list JSON Schema (draft 2020-12), frozen. The root describes what a publisher must produce
 * (strict mode); `$defs/compatible*` describe what a subscriber accepts (compatible mode). The same document is
 * the subpath export `@hepix/hepix-imagelist-schema/schema.json`.
 */
export const imageListSchema: Readonly<Record<string, unknown>> = deepFreeze(schemaJson);

/** The `$id` of {@link imageListSchema}. */
export const IMAGE_LIST_SCHEMA_ID: string = schemaJson.$id;

/** Keys every list (`hv:imagelist`) must have (§1.2 of the original tools). */
export const REQUIRED_IMAGELIST_KEYS: readonly string[] = Object.freeze([
  'dc:date:created',
  'dc:date:expires',
  'dc:identifier',
  'dc:description',
  'dc:title',
  'dc:source',
  'hv:version',
  'hv:uri',
  'hv:endorser',
  'hv:images',
]);

/** Keys every image (`hv:image`) must have. */
export const REQUIRED_IMAGE_KEYS: readonly string[] = Object.freeze([
  'dc:title',
  'dc:description',
  'hv:size',
  'sl:checksum:sha512',
  'sl:arch',
  'hv:uri',
  'dc:identifier',
  'sl:os',
  'sl:osversion',
  'sl:comments',
  'hv:hypervisor',
  'hv:version',
]);

/** Keys every endorser identity (`hv:endorser` → `hv:x509`) must have. */
export const REQUIRED_ENDORSER_KEYS: readonly string[] = Object.freeze([
  'dc:creator',
  'hv:ca',
  'hv:dn',
  'hv:email',
]);
