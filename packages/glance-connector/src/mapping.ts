// The site's mapping from a VO (`ad:vo` of the list) or a subscription (the list's dc:identifier) to the
// Glance project that owns the image and how it is shared. First matching rule wins; an image no rule
// matches goes nowhere unless there is a default.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { GlanceConnectorError } from './errors.js';
import type { ImageFacts } from './facts.js';

export type Visibility = 'private' | 'shared' | 'community' | 'public';
const VISIBILITIES: readonly Visibility[] = ['private', 'shared', 'community', 'public'];

export interface Target {
  /** The owning project id; absent: the project of the connector's own credentials. */
  project?: string;
  visibility: Visibility;
  /** Projects the image is shared with (only with `shared`). */
  members: string[];
}

export interface MappingRule extends Target {
  /** Matches the list's `ad:vo`. */
  vo?: string;
  /** Matches the list's `dc:identifier`. */
  subscription?: string;
}

export interface Mapping {
  rules: MappingRule[];
  /** Where images that match no rule go; absent: they are not put into Glance. */
  default?: Target;
}

/** Everything to Glance, private to the connector's project: the mapping when none is configured. */
export const DEFAULT_MAPPING: Mapping = { rules: [], default: { visibility: 'private', members: [] } };

function target(raw: unknown, where: string): Target {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `mapping ${where}: not a mapping`);
  const r = raw as Record<string, unknown>;
  const visibility = (r.visibility ?? 'private') as Visibility;
  if (!VISIBILITIES.includes(visibility))
    throw new GlanceConnectorError(
      'ERR_GLANCE_CONFIG',
      `mapping ${where}: visibility must be one of ${VISIBILITIES.join(', ')}, not ${String(r.visibility)}`,
    );
  const members = r.members ?? [];
  if (!Array.isArray(members) || members.some((m) => typeof m !== 'string' || m === ''))
    throw new GlanceConnectorError(
      'ERR_GLANCE_CONFIG',
      `mapping ${where}: members must be a list of project ids`,
    );
  if (members.length && visibility !== 'shared')
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `mapping ${where}: members need visibility shared`);
  if (r.project !== undefined && (typeof r.project !== 'string' || r.project === ''))
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `mapping ${where}: project must be a project id`);
  return {
    visibility,
    members: [...new Set(members as string[])].sort(),
    ...(typeof r.project === 'string' ? { project: r.project } : {}),
  };
}

/** Validates a parsed mapping document (`{ rules: [...], default: {...} }`). */
export function parseMapping(doc: unknown): Mapping {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', 'the mapping is not a mapping');
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d))
    if (k !== 'rules' && k !== 'default')
      throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `mapping: unknown key ${k} (rules, default)`);
  const rules = d.rules ?? [];
  if (!Array.isArray(rules))
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', 'mapping: rules must be a list');
  const out: Mapping = {
    rules: rules.map((r, i) => {
      const t = target(r, `rule ${i + 1}`);
      const raw = r as Record<string, unknown>;
      const rule: MappingRule = { ...t };
      for (const key of ['vo', 'subscription'] as const) {
        if (raw[key] === undefined) continue;
        if (typeof raw[key] !== 'string' || raw[key] === '')
          throw new GlanceConnectorError(
            'ERR_GLANCE_CONFIG',
            `mapping rule ${i + 1}: ${key} must be a string`,
          );
        rule[key] = raw[key] as string;
      }
      if (!rule.vo && !rule.subscription)
        throw new GlanceConnectorError(
          'ERR_GLANCE_CONFIG',
          `mapping rule ${i + 1}: needs vo or subscription`,
        );
      return rule;
    }),
  };
  if (d.default !== undefined && d.default !== null) out.default = target(d.default, 'default');
  return out;
}

/** Reads a mapping file (YAML or JSON). */
export async function loadMapping(path: string): Promise<Mapping> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `cannot read the mapping ${path}`, { path, cause });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (cause) {
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `the mapping ${path} is not YAML or JSON`, {
      path,
      cause,
    });
  }
  return parseMapping(doc);
}

/** Where an image goes: the first rule whose `vo` and `subscription` (those it names) match, else the default. */
export function resolveTarget(
  mapping: Mapping,
  facts: Pick<ImageFacts, 'vo' | 'subscription'>,
): Target | undefined {
  for (const r of mapping.rules) {
    if (r.vo !== undefined && r.vo !== facts.vo) continue;
    if (r.subscription !== undefined && r.subscription !== facts.subscription) continue;
    return { visibility: r.visibility, members: r.members, ...(r.project ? { project: r.project } : {}) };
  }
  return mapping.default;
}
