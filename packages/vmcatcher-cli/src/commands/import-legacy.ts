// `vmcatcher import-legacy --from URL [--force]`: migrates the tables of an original vmcatcher 0.6 (or vmcaster
// 0.0.x) database into this version's store, in one transaction. The command opening a database names when it
// refuses to migrate one by itself: when this version's tables already hold data beside the original ones, or
// when the original tables cannot be read.
import { importLegacyDb, type LegacyImportResult, redactUrl } from '@hepix/imagelist-store';
import {
  CliError,
  type CliIo,
  type CommonContext,
  processIo,
  runTool,
  type ToolDefinition,
  withStore,
} from '../common/context.js';
import { jsonText } from '../common/format.js';
import { type OptionSpec, UsageError } from '../common/options.js';

const IMPORT_LEGACY_OPTIONS: OptionSpec[] = [
  {
    dest: 'from',
    long: ['from'],
    kind: 'value',
    metavar: 'URL',
    help: 'The original database (sqlite:///vmcatcher.db, postgres://…); it may be the -d database itself.',
  },
  {
    dest: 'force',
    long: ['force'],
    kind: 'flag',
    help: "Replace what this version's tables hold on the imported side (subscriber data for vmcatcher, publisher data for vmcaster) instead of adding to it.",
  },
];

export const IMPORT_LEGACY_TOOL: ToolDefinition = {
  name: 'vmcatcher import-legacy',
  usage: 'vmcatcher import-legacy --from URL [--force] [-d URL] [--json]',
  description:
    "Migrate the tables of an original vmcatcher (or vmcaster) database into this version's store (-d, VMCATCHER_RDBMS), in one transaction. The original tables are only read.",
  options: IMPORT_LEGACY_OPTIONS,
  withoutCommon: ['format'],
  examples: [
    {
      command:
        'vmcatcher import-legacy --from sqlite:////var/lib/vmcatcher/vmcatcher.db -d postgres://vmcatcher@db/vmcatcher',
      text: 'move an original SQLite database into PostgreSQL',
    },
  ],
  exitStatus: [
    [0, 'success'],
    [1, 'the source cannot be read'],
    [2, 'usage error'],
    [15, 'a conflict, nothing changed (use --force to replace)'],
    [70, 'internal error'],
  ],
};

export function runImportLegacyCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = processIo,
): Promise<number> {
  return runTool(IMPORT_LEGACY_TOOL, argv, env, io, importLegacyMain);
}

function summary(r: LegacyImportResult): string[] {
  const lines: string[] = [];
  if (r.vmcatcher) {
    const c = r.vmcatcher;
    lines.push(
      `vmcatcher: ${c.endorsers} endorsers, ${c.principals} principals, ${c.subscriptions} subscriptions, ${c.links} links, ${c.imageLists} image lists, ${c.imageDefinitions} image definitions, ${c.imageInstances} image instances`,
    );
  }
  if (r.vmcaster) {
    const c = r.vmcaster;
    lines.push(
      `vmcaster: ${c.endorsers} endorsers, ${c.imageLists} image lists, ${c.images} images, ${c.metadata} metadata keys, ${c.bindings} bindings`,
    );
  }
  return lines;
}

async function importLegacyMain(ctx: CommonContext): Promise<number> {
  const from = ctx.options.from as string | undefined;
  if (!from) throw new UsageError('--from URL is required (the original database to migrate)');
  if (ctx.positionals.length) throw new UsageError(`unexpected argument '${ctx.positionals[0]}'`);
  const force = Boolean(ctx.options.force);
  // The store must not migrate (or refuse) by itself here: this command is what does it.
  return withStore(
    ctx,
    async (store) => {
      let result: LegacyImportResult;
      try {
        result = await importLegacyDb(from, store, { replace: force });
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ERR_STORE_CONFLICT') {
          throw new CliError(
            'ERR_CLI_IMPORT_CONFLICT',
            `${(err as Error).message}; nothing was imported. With --force, the original's data replaces what this version's tables hold on that side.`,
          );
        }
        throw err;
      }
      const warnings = [...(result.vmcatcher?.warnings ?? []), ...(result.vmcaster?.warnings ?? [])];
      for (const w of warnings) ctx.log('warn', w, { name: 'import' });
      if (ctx.format === 'json') {
        ctx.io.stdout(
          jsonText({
            from: redactUrl(from),
            database: store.url,
            inPlace: result.inPlace,
            replaced: force,
            tools: result.tools,
            ...(result.vmcatcher ? { vmcatcher: result.vmcatcher } : {}),
            ...(result.vmcaster ? { vmcaster: result.vmcaster } : {}),
          }),
        );
      } else {
        ctx.io.stdout(
          `Imported the original ${result.tools.join(' and ')} tables into ${store.url}${force ? ' (replacing)' : ''}:\n`,
        );
        for (const line of summary(result)) ctx.io.stdout(`  ${line}\n`);
        if (warnings.length) ctx.io.stdout(`  ${warnings.length} rows skipped (see the warnings)\n`);
      }
      return 0;
    },
    { legacyMigration: 'off' },
  );
}
