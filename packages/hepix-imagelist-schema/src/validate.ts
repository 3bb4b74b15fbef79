import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { dateProblem } from './dates.js';
import {
  ImageListValidationError,
  type ImageListInvalidReason,
  internal,
  MAX_ISSUES,
  preview,
  pointerToken,
  type ValidationIssue,
} from './errors.js';
import { IMAGE_LIST_SCHEMA_ID, imageListSchema } from './schema.js';
import type { Endorser, Image, ImageEntry, ImageList, ImageListBody, ValidationMode } from './types.js';

/** Options of validateImageList() and validateImageListDetailed(). */
export interface ValidateOptions {
  /** `compatible` (default) accepts what real publishers emit; `strict` is what a publisher must produce. */
  mode?: ValidationMode;
  /** Largest JSON text accepted, in UTF-8 bytes, for string and byte input. Default 32 MiB. */
  maxBytes?: number;
  /** Deepest nesting of objects and arrays accepted. Default 64 (a list needs 6, extension keys a few more). */
  maxDepth?: number;
}

/** What validateImageListDetailed() returns. */
export interface ValidationResult {
  /** The list in the wrapped form `{"hv:imagelist": {...}}`, without the images that were dropped. */
  list: ImageList;
  /** Everything accepted only in compatible mode, and every image dropped, with its JSON pointer. */
  warnings: ValidationIssue[];
}

export const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 64;
// Bounds the walk over caller-built objects, which may share subtrees (a DAG can be exponentially large).
const MAX_NODES = 20_000_000;
/** More endorsers than this are refused outright (a list has one, vmcaster may write a few). */
export const MAX_ENDORSERS = 100;
/** Dropped images reported one by one; beyond this a single warning gives the count. */
export const MAX_DROPPED_DETAILS = 1000;

const DATE_PATTERN =
  '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$';
const PATTERN_MESSAGES: Record<string, string> = {
  [DATE_PATTERN]: 'must be a date exactly YYYY-MM-DDTHH:MM:SSZ (UTC, no fractions, no offset)',
  '^[0-9a-f]{128}$': 'must be a sha512 digest as 128 lowercase hex digits',
  '^[0-9a-fA-F]{128}$': 'must be a sha512 digest as 128 hex digits',
  '^[0-9]{1,15}$': 'must be a non-negative integer or a string of at most 15 decimal digits',
};

function fail(reason: ImageListInvalidReason, message: string, cause?: unknown): never {
  throw new ImageListValidationError([{ path: '', message }], { reason, cause });
}

// ---------------------------------------------------------------------------------------------------------
// Input decoding and limits

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Byte offset of the first invalid UTF-8 sequence (RFC 3629 well-formedness), for the error message. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    // Allowed range of the second byte, and how many continuation bytes follow the first.
    let lo = 0x80;
    let hi = 0xbf;
    let more: number;
    if (b >= 0xc2 && b <= 0xdf) more = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      more = 2;
      if (b === 0xe0) lo = 0xa0; // no overlong forms
      if (b === 0xed) hi = 0x9f; // no UTF-16 surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      more = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else return i;
    if (i + more >= n) return i;
    const second = bytes[i + 1]!;
    if (second < lo || second > hi) return i;
    for (let k = 2; k <= more; k++) {
      const c = bytes[i + k]!;
      if (c < 0x80 || c > 0xbf) return i;
    }
    i += more + 1;
  }
  return n;
}

function tooLarge(bytes: number, maxBytes: number): never {
  fail(
    'limits',
    `JSON text of ${bytes} bytes is larger than the limit of ${maxBytes} bytes (option maxBytes)`,
  );
}

function parseText(text: string, maxBytes: number): unknown {
  // A UTF-16 unit is at most 3 UTF-8 bytes, so bytes are counted only when the text could be too large.
  if (text.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > maxBytes) tooLarge(bytes, maxBytes);
  }
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (err) {
    if (err instanceof RangeError)
      fail('limits', `JSON text too deeply nested to parse: ${err.message}`, err);
    fail('syntax', `not valid JSON: ${preview(err instanceof Error ? err.message : err, 200)}`, err);
  }
}

function decode(input: unknown, maxBytes: number): unknown {
  if (typeof input === 'string') return parseText(input, maxBytes);
  const bytes =
    input instanceof Uint8Array ? input : input instanceof ArrayBuffer ? new Uint8Array(input) : undefined;
  if (bytes === undefined) return input;
  if (bytes.byteLength > maxBytes) tooLarge(bytes.byteLength, maxBytes);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (err) {
    fail('encoding', `not valid UTF-8 (first bad byte at offset ${firstInvalidUtf8(bytes)})`, err);
  }
  return parseText(text, maxBytes);
}

/** Iterative walk (no recursion, so no stack overflow) that bounds nesting depth and size. */
function checkNesting(root: unknown, maxDepth: number, maxNodes: number): void {
  if (root === null || typeof root !== 'object') return;
  const values: object[] = [root];
  const depths: number[] = [1];
  let nodes = 0;
  while (values.length > 0) {
    const value = values.pop()!;
    const depth = depths.pop()!;
    if (depth > maxDepth) {
      fail('limits', `nesting deeper than ${maxDepth} levels of objects and arrays (option maxDepth)`);
    }
    if (Array.isArray(value)) {
      nodes += value.length;
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        if (v !== null && typeof v === 'object') {
          values.push(v);
          depths.push(depth + 1);
        }
      }
    } else {
      const rec = value as Record<string, unknown>;
      for (const k in rec) {
        nodes++;
        const v = rec[k];
        if (v !== null && typeof v === 'object') {
          values.push(v);
          depths.push(depth + 1);
        }
      }
    }
    if (nodes > maxNodes) fail('limits', `more than ${maxNodes} values (shared or cyclic structure?)`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Schema validation

interface ModeValidators {
  /** The list body without its images (each image is validated on its own, so one bad image can be dropped). */
  body: ValidateFunction;
  /** One element of hv:images. */
  entry: ValidateFunction;
}
let validators: { strict: ModeValidators; compatible: ModeValidators } | undefined;

// Compiled on first use, so importing the package stays cheap.
function getValidators(strict: boolean): ModeValidators {
  if (validators === undefined) {
    const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
    ajv.addSchema(imageListSchema as Record<string, unknown>);
    const defs = imageListSchema.$defs as Record<string, { properties: Record<string, unknown> }>;
    const get = (def: string) => {
      const fn = ajv.getSchema(`${IMAGE_LIST_SCHEMA_ID}#/$defs/${def}`);
      if (fn === undefined) throw new Error(`schema definition ${def} missing`);
      return fn;
    };
    const bodyWithoutImages = (def: string) => {
      // The same definition with hv:images reduced to "an array"; references made absolute so they still
      // point into the published schema.
      const text = JSON.stringify({
        ...defs[def],
        properties: { ...defs[def]!.properties, 'hv:images': { type: 'array' } },
      }).replaceAll('"#/$defs/', `"${IMAGE_LIST_SCHEMA_ID}#/$defs/`);
      return ajv.compile(JSON.parse(text));
    };
    validators = {
      strict: { body: bodyWithoutImages('imageListBody'), entry: get('imageEntry') },
      compatible: { body: bodyWithoutImages('compatibleImageListBody'), entry: get('compatibleImageEntry') },
    };
  }
  return strict ? validators.strict : validators.compatible;
}

function describeType(type: unknown): string {
  const t = Array.isArray(type) ? type.join(',') : String(type);
  switch (t) {
    case 'integer':
      return 'must be an integer (a JSON number, not a string)';
    case 'integer,string':
      return 'must be a non-negative integer or a string of decimal digits';
    case 'object,array':
      return 'must be an endorser object or an array of endorser objects';
    case 'object':
      return 'must be a JSON object';
    case 'array':
      return 'must be a JSON array';
    default:
      return `must be of type ${t}`;
  }
}

function toIssue(
  e: ErrorObject,
  prefix: string,
  strict: boolean,
  body: Record<string, unknown>,
): ValidationIssue {
  const path = prefix + e.instancePath;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return {
        path: `${path}/${pointerToken(String(p.missingProperty))}`,
        message: `missing required key "${String(p.missingProperty)}"`,
      };
    case 'type':
      if (strict && e.instancePath === '/hv:endorser' && Array.isArray(body['hv:endorser'])) {
        return {
          path,
          message:
            'must be a single endorser object; a list of endorsers is accepted in compatible mode only ' +
            '(the original vmcatcher cannot parse it)',
        };
      }
      return { path, message: describeType(p.type) };
    case 'pattern':
      return { path, message: PATTERN_MESSAGES[String(p.pattern)] ?? `must match ${String(p.pattern)}` };
    case 'minLength':
      return { path, message: 'must not be empty' };
    case 'minimum':
      return { path, message: 'must not be negative' };
    case 'maximum':
      return { path, message: 'must not exceed 9007199254740991 (2^53 - 1)' };
    case 'minItems':
      return { path, message: 'must hold at least one endorser' };
    case 'maxItems':
      return { path, message: `must hold at most ${MAX_ENDORSERS} endorsers` };
    default:
      return { path, message: e.message ?? `fails ${e.keyword}` };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Validates an image list and returns it with the warnings. `input` is a parsed object, JSON text, or UTF-8
 * bytes (Uint8Array, Buffer or ArrayBuffer). The returned list is always wrapped (`{"hv:imagelist": {...}}`);
 * unknown keys and the JSON types of values are kept as they are; the input is never modified.
 *
 * In compatible mode an image (element of `hv:images`) that does not match is dropped and reported as warnings.
 * Throws ImageListValidationError (`ERR_IMAGELIST_INVALID`) with every issue as a JSON pointer; an unexpected
 * exception (a getter of a caller-built object that throws, a bug) is ERR_IMAGELIST_INTERNAL with it as cause.
 */
export function validateImageListDetailed(input: unknown, options?: ValidateOptions): ValidationResult {
  const mode = options?.mode ?? 'compatible';
  // A wrong mode is the caller's bug, not a property of the list.
  if (mode !== 'strict' && mode !== 'compatible') {
    throw new TypeError(`mode must be "strict" or "compatible", got ${preview(mode)}`);
  }
  try {
    return validate(input, options, mode === 'strict');
  } catch (err) {
    internal(err, 'validating an image list');
  }
}

function validate(input: unknown, options: ValidateOptions | undefined, strict: boolean): ValidationResult {
  const root = decode(input, options?.maxBytes ?? DEFAULT_MAX_BYTES);
  if (!isObject(root)) fail('schema', 'an image list must be a JSON object');
  // Parsed text is a tree bounded by maxBytes; only objects built by the caller can share subtrees.
  const fromText = root !== input;
  checkNesting(root, options?.maxDepth ?? DEFAULT_MAX_DEPTH, fromText ? Number.POSITIVE_INFINITY : MAX_NODES);

  const warnings: ValidationIssue[] = [];
  const wrapped = Object.hasOwn(root, 'hv:imagelist');
  let prefix = '/hv:imagelist';
  let body: unknown = root['hv:imagelist'];
  if (!wrapped) {
    if (!strict && !Object.hasOwn(root, 'hv:images')) {
      throw new ImageListValidationError([
        {
          path: '/hv:imagelist',
          message: 'missing required key "hv:imagelist" (nor is it a legacy unwrapped list: no "hv:images")',
        },
      ]);
    }
    if (strict) {
      throw new ImageListValidationError([
        {
          path: '/hv:imagelist',
          message:
            'missing required key "hv:imagelist"; the unwrapped legacy format is accepted in compatible mode only',
        },
      ]);
    }
    warnings.push({
      path: '',
      message: 'legacy unwrapped image list (no "hv:imagelist" wrapper); returned in the wrapped form',
    });
    prefix = '';
    body = root;
  }
  if (!isObject(body)) {
    throw new ImageListValidationError([{ path: prefix, message: 'the image list must be a JSON object' }]);
  }

  const v = getValidators(strict);
  const endorser = body['hv:endorser'];
  // Checked first: ajv would report every bad element of a huge array (allErrors).
  if (Array.isArray(endorser) && endorser.length > MAX_ENDORSERS) {
    throw new ImageListValidationError([
      { path: `${prefix}/hv:endorser`, message: `more than ${MAX_ENDORSERS} endorsers (${endorser.length})` },
    ]);
  }
  const listIssues: ValidationIssue[] = [];
  if (!v.body(body)) {
    for (const e of v.body.errors ?? []) listIssues.push(toIssue(e, prefix, strict, body));
  }
  // What JSON Schema cannot say: dates must exist in the calendar (no 2024-02-30).
  const seenPaths = new Set(listIssues.map((i) => i.path));
  for (const key of ['dc:date:created', 'dc:date:expires']) {
    const path = `${prefix}/${key}`;
    const value = body[key];
    if (value === undefined || seenPaths.has(path)) continue;
    const problem = dateProblem(value);
    if (problem !== undefined) listIssues.push({ path, message: problem });
  }
  if (Array.isArray(endorser) && listIssues.length === 0) {
    warnings.push({
      path: `${prefix}/hv:endorser`,
      message:
        `a list of ${endorser.length} endorser(s) instead of one endorser object ` +
        '(strict mode and the original vmcatcher reject it)',
    });
  }

  // Images one by one. Details are capped so that a list of millions of bad elements stays bounded in memory.
  const images: unknown[] = Array.isArray(body['hv:images']) ? body['hv:images'] : [];
  const dropped = new Set<number>();
  const imageErrors: ValidationIssue[] = [];
  let imageErrorCount = 0;
  const seenIds = new Map<string, number>();
  for (let i = 0; i < images.length; i++) {
    const entry = images[i];
    const entryPath = `${prefix}/hv:images/${i}`;
    let problems: ValidationIssue[] | undefined;
    if (!v.entry(entry)) {
      problems = (v.entry.errors ?? []).map((e) => toIssue(e, entryPath, strict, body));
    } else if (strict) {
      const expires = (entry as ImageEntry)['hv:image']['dc:date:expires'];
      const problem = expires === undefined ? undefined : dateProblem(expires);
      if (problem !== undefined)
        problems = [{ path: `${entryPath}/hv:image/dc:date:expires`, message: problem }];
    }
    if (problems !== undefined) {
      dropped.add(i);
      if (strict) {
        imageErrorCount += problems.length;
        for (const p of problems) if (imageErrors.length < MAX_ISSUES) imageErrors.push(p);
      } else if (dropped.size <= MAX_DROPPED_DETAILS) {
        for (const p of problems) warnings.push({ path: p.path, message: `${p.message}; image dropped` });
      }
      continue;
    }
    const image = (entry as ImageEntry)['hv:image'];
    if (/[A-F]/.test(image['sl:checksum:sha512'])) {
      warnings.push({
        path: `${entryPath}/hv:image/sl:checksum:sha512`,
        message: 'uppercase hex digits; the original tools compare lowercase digests',
      });
    }
    const id = image['dc:identifier'];
    const first = seenIds.get(id);
    if (first !== undefined) {
      warnings.push({
        path: `${entryPath}/hv:image/dc:identifier`,
        message: `duplicate image identifier "${preview(id)}" (also image ${first})`,
      });
    } else seenIds.set(id, i);
  }

  const total = listIssues.length + (strict ? imageErrorCount : 0);
  if (total > 0) {
    const shown = [...listIssues, ...(strict ? imageErrors : [])].slice(0, MAX_ISSUES);
    if (total > shown.length)
      shown.push({ path: '', message: `${total - shown.length} more issues not shown` });
    throw new ImageListValidationError(shown, { total });
  }
  if (dropped.size > MAX_DROPPED_DETAILS) {
    warnings.push({
      path: `${prefix}/hv:images`,
      message: `${dropped.size - MAX_DROPPED_DETAILS} more images dropped; details not shown`,
    });
  }

  const created = body['dc:date:created'] as string;
  const expires = body['dc:date:expires'] as string;
  // Both are valid YYYY-MM-DDTHH:MM:SSZ here, which sorts as text.
  if (expires < created) {
    warnings.push({ path: `${prefix}/dc:date:expires`, message: 'expires before dc:date:created' });
  }

  let outBody = body as ImageListBody;
  if (dropped.size > 0) {
    const kept = images.filter((_, i) => !dropped.has(i)) as ImageEntry[];
    outBody = { ...outBody, 'hv:images': kept };
  }
  let list: ImageList;
  if (!wrapped) list = { 'hv:imagelist': outBody };
  else if (outBody !== body) list = { ...root, 'hv:imagelist': outBody };
  else list = root as ImageList;
  return { list, warnings };
}

/** validateImageListDetailed() without the warnings. */
export function validateImageList(input: unknown, options?: ValidateOptions): ImageList {
  return validateImageListDetailed(input, options).list;
}

/**
 * `hv:size` of an image as a number; accepts a JSON integer or a string of decimal digits (AppDB).
 * Throws ImageListValidationError when it is neither, or beyond 2^53 - 1.
 */
export function imageSize(image: Image): number {
  const v: unknown = isObject(image) ? image['hv:size'] : undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^[0-9]{1,16}$/.test(v)) {
    const n = Number(v);
    if (Number.isSafeInteger(n)) return n;
  }
  throw new ImageListValidationError([
    { path: '/hv:size', message: `must be a non-negative integer or a numeric string, got ${preview(v)}` },
  ]);
}

/** The endorsers of a list as an array: one element for the usual single endorser object. */
export function listEndorsers(list: ImageList | ImageListBody): Endorser[] {
  const body = (isObject(list['hv:imagelist']) ? list['hv:imagelist'] : list) as ImageListBody;
  const e = body['hv:endorser'];
  return Array.isArray(e) ? e : isObject(e) ? [e] : [];
}
