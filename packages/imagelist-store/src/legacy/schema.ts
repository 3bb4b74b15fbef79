// What an original database looks like (SQLAlchemy schemas of vmcatcher 0.6 and older, reference §3.9, and of
// vmcaster 0.0.x, §4.4), and the pure decision of what opening such a database does: nothing, migrate it, or
// refuse with the command that fixes it. No I/O here.
import type { TableInfo } from '../dialect.js';

export type LegacyTool = 'vmcatcher' | 'vmcaster';

interface TableSpec {
  /** The name SQLAlchemy created (case kept, for messages). */
  name: string;
  required: boolean;
  /** Columns the importer cannot do without (lower case); the others fall back to the originals' defaults. */
  columns: readonly string[];
}

interface ToolSpec {
  tables: readonly TableSpec[];
  /** Tables whose presence says "this is that tool's database" (generic names like `image` do not). */
  markers: readonly string[];
}

const LEGACY_SPECS: Readonly<Record<LegacyTool, ToolSpec>> = {
  vmcatcher: {
    tables: [
      { name: 'endorser', required: true, columns: ['id', 'identifier'] },
      { name: 'endorserPrincible', required: true, columns: ['id', 'hv_dn', 'hv_ca', 'endorser'] },
      { name: 'subscription', required: true, columns: ['id', 'identifier', 'uri'] },
      { name: 'subscriptionAuth', required: false, columns: ['id', 'subscription', 'endorser'] },
      { name: 'ImageDefinition', required: false, columns: ['id', 'identifier', 'subscription'] },
      { name: 'imageListInstance', required: false, columns: ['id', 'data', 'data_hash'] },
      { name: 'ImageInstance', required: false, columns: ['id', 'fkidentifier', 'fkimagelistinstance'] },
    ],
    markers: ['endorserprincible', 'subscriptionauth', 'imagelistinstance'],
  },
  vmcaster: {
    tables: [
      { name: 'endorser', required: true, columns: ['id', 'subject'] },
      { name: 'imagelist', required: true, columns: ['id', 'identifier'] },
      { name: 'Image', required: true, columns: ['id', 'identifier'] },
      { name: 'endorserMetadata', required: false, columns: ['id', 'fkendorser', 'key', 'value'] },
      { name: 'ImagelistMetadata', required: false, columns: ['id', 'fkimagelist', 'key', 'value'] },
      { name: 'ImageMetadata', required: false, columns: ['id', 'fkimage', 'key', 'value'] },
      { name: 'Endorsement', required: false, columns: ['id', 'fkimagelist', 'fkendorser'] },
      { name: 'ImageListImage', required: false, columns: ['id', 'fkimagelist', 'fkimage'] },
    ],
    markers: ['imagelistimage', 'imagelistmetadata', 'imagemetadata', 'endorsermetadata', 'endorsement'],
  },
};

export interface ToolSchema {
  /** Names as stored, by lower-case name, of the tool's tables that exist. */
  present: Map<string, string>;
  /** Why the importer cannot read it (empty when it can). */
  problems: string[];
}

/** Tables by lower-case name: SQLite and SQLAlchemy's quoting keep case, but lookups must not depend on it. */
export function tableIndex(tables: readonly TableInfo[]): Map<string, TableInfo> {
  return new Map(tables.map((t) => [t.name.toLowerCase(), t]));
}

/** Checks the tables of one tool against what the importer needs. */
export function checkToolSchema(tool: LegacyTool, tables: readonly TableInfo[]): ToolSchema {
  const index = tableIndex(tables);
  const present = new Map<string, string>();
  const problems: string[] = [];
  for (const spec of LEGACY_SPECS[tool].tables) {
    const t = index.get(spec.name.toLowerCase());
    if (!t) {
      if (spec.required) problems.push(`table '${spec.name}' is missing`);
      continue;
    }
    present.set(spec.name.toLowerCase(), t.name);
    const have = new Set(t.columns.map((c) => c.toLowerCase()));
    for (const c of spec.columns) if (!have.has(c)) problems.push(`table '${t.name}' has no column '${c}'`);
  }
  return { present, problems };
}

/** Which original tools' tables a database holds (by their distinctive tables), with what the importer makes of them. */
export function describeLegacySchema(tables: readonly TableInfo[]): Partial<Record<LegacyTool, ToolSchema>> {
  const index = tableIndex(tables);
  const out: Partial<Record<LegacyTool, ToolSchema>> = {};
  for (const tool of Object.keys(LEGACY_SPECS) as LegacyTool[]) {
    if (LEGACY_SPECS[tool].markers.some((m) => index.has(m))) out[tool] = checkToolSchema(tool, tables);
  }
  return out;
}

/** What `store_meta` keeps about a done migration. */
export interface LegacyMarker {
  at: string;
  tools: LegacyTool[];
  backup?: string;
  /** Rows of each original table at the time, by table name. */
  counts: Record<string, number>;
}

export const LEGACY_MARKER_KEY = 'legacy_migration';

export interface LegacyPlanInput {
  /** The database as shown in messages (password removed). */
  url: string;
  schema: Partial<Record<LegacyTool, ToolSchema>>;
  /** Rows of each present original table, by its stored name. */
  counts: Record<string, number>;
  marker?: LegacyMarker;
  /** Whether this version's tables of each side already hold data. */
  storeHasData: { subscriber: boolean; publisher: boolean };
}

export type LegacyPlan =
  | { action: 'none'; note?: string }
  | { action: 'migrate'; tools: LegacyTool[] }
  | { action: 'refuse'; message: string };

const SIDE: Record<LegacyTool, { side: 'subscriber' | 'publisher'; what: string }> = {
  vmcatcher: { side: 'subscriber', what: 'endorsers and subscriptions' },
  vmcaster: { side: 'publisher', what: 'endorsers, image lists and images' },
};

/** The command that migrates a database by hand (it is a vmcatcher subcommand for vmcaster databases too). */
export function importCommand(url: string, force: boolean): string {
  return `vmcatcher import-legacy -d '${url}' --from '${url}'${force ? ' --force' : ''}`;
}

/** Decides what opening a database with original tables does. Pure: the caller has read everything. */
export function planLegacyMigration(input: LegacyPlanInput): LegacyPlan {
  const tools = (Object.keys(input.schema) as LegacyTool[]).filter((t) => input.schema[t]);
  if (!tools.length) return { action: 'none' };
  if (input.marker) {
    const changed = Object.entries(input.counts)
      .filter(([table, n]) => (input.marker!.counts[table] ?? 0) !== n)
      .map(([table]) => table);
    return changed.length
      ? {
          action: 'none',
          note: `the original tables ${changed.map((t) => `'${t}'`).join(', ')} changed after they were migrated on ${input.marker.at}; their new rows are not seen. To take them again, run: ${importCommand(input.url, true)}`,
        }
      : { action: 'none' };
  }
  const migrate: LegacyTool[] = [];
  for (const tool of tools) {
    const schema = input.schema[tool]!;
    const rows = [...schema.present.values()].reduce((n, table) => n + (input.counts[table] ?? 0), 0);
    if (rows === 0) continue;
    if (schema.problems.length) {
      return {
        action: 'refuse',
        message: `${input.url} holds tables of the original ${tool} that this version cannot read (${schema.problems.join('; ')}); nothing was changed. Repair them or move them aside, then run: ${importCommand(input.url, false)}`,
      };
    }
    const { side, what } = SIDE[tool];
    if (input.storeHasData[side]) {
      return {
        action: 'refuse',
        message: `${input.url} holds the ${what} of the original ${tool} and also ${what} in this version's tables (written by an earlier version that did not see the original ones); nothing was changed. To replace this version's ${what} with the original's, run: ${importCommand(input.url, true)}`,
      };
    }
    migrate.push(tool);
  }
  return migrate.length ? { action: 'migrate', tools: migrate } : { action: 'none' };
}

/** `.orig-20260102T030405Z`: the suffix of the copy made before migrating a file in place. */
export function backupSuffix(at: Date): string {
  const iso = at.toISOString();
  return `.orig-${iso.slice(0, 19).replace(/[-:]/g, '')}Z`;
}
