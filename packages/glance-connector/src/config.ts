// The connector's configuration file (YAML or JSON, snake_case keys like clouds.yaml), read into plain values.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { GlanceConnectorError } from './errors.js';
import { DISK_FORMATS, type DiskFormat } from './ingest/formats.js';
import type { ResourceLimits, SandboxMode } from './ingest/sandbox.js';
import { DEFAULT_MAPPING, loadMapping, type Mapping, parseMapping } from './mapping.js';
import type { ObjectSourceOptions } from './objects.js';

export interface ConnectorConfig {
  /** clouds.yaml entry (default OS_CLOUD; without either, the OS_* variables). */
  cloud?: string;
  /** clouds.yaml to read instead of the search path. */
  cloudsFile?: string;
  mapping: Mapping;
  formats?: DiskFormat[];
  scratchDir?: string;
  maxVirtualSize?: number;
  maxFileSize?: number;
  expire?: 'delete' | 'deactivate';
  tag?: string;
  namePrefix?: string;
  sandbox?: SandboxMode;
  limits?: Partial<Omit<ResourceLimits, 'fileSizeBytes'>>;
  /** The vmcatcher store URL (default VMCATCHER_RDBMS). */
  database?: string;
  /** The vmcatcher cache directory, or its `s3://BUCKET/PREFIX` (default VMCATCHER_CACHE_DIR_CACHE). */
  cacheDir?: string;
  uploadTimeoutMs?: number;
  /** The S3 server of an `s3://` cache (credentials stay in the `AWS_*` variables or the SDK's chain). */
  s3?: ObjectSourceOptions;
}

const KEYS = new Set([
  'cloud',
  'clouds_file',
  'mapping',
  'formats',
  'scratch_dir',
  'max_virtual_size',
  'max_file_size',
  'expire',
  'tag',
  'name_prefix',
  'sandbox',
  'limits',
  'database',
  'cache_dir',
  'upload_timeout_seconds',
  's3',
]);

/** `100G`, `512M`, `1T`, `4096` (bytes; binary multiples). */
export function parseSize(value: unknown, what: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return Math.floor(value);
  const m = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(value) : null;
  if (!m)
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `${what}: not a size (e.g. 100G): ${String(value)}`);
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[
    m[2].toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'
  ];
  return Math.floor(Number(m[1]) * mult);
}

function positive(value: unknown, what: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `${what} must be a positive number`);
  return n;
}

function string(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '')
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `${what} must be a string`);
  return value;
}

/** Validates a parsed configuration document; relative paths are taken from `baseDir`. */
export async function parseConnectorConfig(doc: unknown, baseDir = process.cwd()): Promise<ConnectorConfig> {
  if (doc === undefined || doc === null) return { mapping: DEFAULT_MAPPING };
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', 'the configuration is not a mapping');
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d))
    if (!KEYS.has(k)) throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `configuration: unknown key ${k}`);
  const path = (v: unknown, what: string) => {
    const s = string(v, what);
    return isAbsolute(s) ? s : resolve(baseDir, s);
  };
  const out: ConnectorConfig = { mapping: DEFAULT_MAPPING };
  if (d.cloud !== undefined) out.cloud = string(d.cloud, 'cloud');
  if (d.clouds_file !== undefined) out.cloudsFile = path(d.clouds_file, 'clouds_file');
  if (typeof d.mapping === 'string') out.mapping = await loadMapping(path(d.mapping, 'mapping'));
  else if (d.mapping !== undefined) out.mapping = parseMapping(d.mapping);
  if (d.formats !== undefined) {
    const list = Array.isArray(d.formats) ? d.formats : String(d.formats).split(',');
    const formats = list.map((f) => String(f).trim().toLowerCase()) as DiskFormat[];
    for (const f of formats)
      if (!DISK_FORMATS.includes(f))
        throw new GlanceConnectorError(
          'ERR_GLANCE_CONFIG',
          `formats: ${f} is not one of ${DISK_FORMATS.join(', ')}`,
        );
    if (!formats.length) throw new GlanceConnectorError('ERR_GLANCE_CONFIG', 'formats: name at least one');
    out.formats = formats;
  }
  if (d.scratch_dir !== undefined) out.scratchDir = path(d.scratch_dir, 'scratch_dir');
  if (d.max_virtual_size !== undefined)
    out.maxVirtualSize = parseSize(d.max_virtual_size, 'max_virtual_size');
  if (d.max_file_size !== undefined) out.maxFileSize = parseSize(d.max_file_size, 'max_file_size');
  if (d.expire !== undefined) {
    if (d.expire !== 'delete' && d.expire !== 'deactivate')
      throw new GlanceConnectorError('ERR_GLANCE_CONFIG', 'expire must be delete or deactivate');
    out.expire = d.expire;
  }
  if (d.tag !== undefined) out.tag = string(d.tag, 'tag');
  if (d.name_prefix !== undefined) out.namePrefix = String(d.name_prefix);
  if (d.sandbox !== undefined) {
    if (d.sandbox !== 'auto' && d.sandbox !== 'bwrap' && d.sandbox !== 'none')
      throw new GlanceConnectorError('ERR_GLANCE_CONFIG', 'sandbox must be auto, bwrap or none');
    out.sandbox = d.sandbox;
  }
  if (d.limits !== undefined) {
    if (d.limits === null || typeof d.limits !== 'object')
      throw new GlanceConnectorError('ERR_GLANCE_CONFIG', 'limits must be a mapping');
    const l = d.limits as Record<string, unknown>;
    const limits: NonNullable<ConnectorConfig['limits']> = {};
    for (const k of Object.keys(l)) {
      if (k === 'address_space') limits.addressSpaceBytes = parseSize(l[k], 'limits.address_space');
      else if (k === 'cpu_seconds') limits.cpuSeconds = positive(l[k], 'limits.cpu_seconds');
      else if (k === 'wall_clock_seconds')
        limits.wallClockMs = positive(l[k], 'limits.wall_clock_seconds') * 1000;
      else throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `limits: unknown key ${k}`);
    }
    out.limits = limits;
  }
  if (d.database !== undefined) out.database = string(d.database, 'database');
  if (d.cache_dir !== undefined)
    out.cacheDir =
      typeof d.cache_dir === 'string' && d.cache_dir.startsWith('s3://')
        ? d.cache_dir
        : path(d.cache_dir, 'cache_dir');
  if (d.upload_timeout_seconds !== undefined)
    out.uploadTimeoutMs = positive(d.upload_timeout_seconds, 'upload_timeout_seconds') * 1000;
  if (d.s3 !== undefined) {
    if (d.s3 === null || typeof d.s3 !== 'object' || Array.isArray(d.s3))
      throw new GlanceConnectorError('ERR_GLANCE_CONFIG', 's3 must be a mapping');
    const s = d.s3 as Record<string, unknown>;
    const s3: ObjectSourceOptions = {};
    for (const k of Object.keys(s)) {
      if (k === 'endpoint') s3.endpoint = string(s[k], 's3.endpoint');
      else if (k === 'region') s3.region = string(s[k], 's3.region');
      else if (k === 'ca_bundle') s3.caBundle = path(s[k], 's3.ca_bundle');
      else if (k === 'force_path_style') {
        if (typeof s[k] !== 'boolean')
          throw new GlanceConnectorError('ERR_GLANCE_CONFIG', 's3.force_path_style must be true or false');
        s3.forcePathStyle = s[k];
      } else
        throw new GlanceConnectorError(
          'ERR_GLANCE_CONFIG',
          `s3: unknown key ${k}${/key|secret|token/.test(k) ? ' (credentials go into the AWS_* variables)' : ''}`,
        );
    }
    out.s3 = s3;
  }
  return out;
}

/** Reads the configuration file (YAML or JSON). */
export async function loadConnectorConfig(file: string): Promise<ConnectorConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `cannot read the configuration ${file}`, {
      path: file,
      cause,
    });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (cause) {
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `the configuration ${file} is not YAML or JSON`, {
      path: file,
      cause,
    });
  }
  return parseConnectorConfig(doc, dirname(resolve(file)));
}
