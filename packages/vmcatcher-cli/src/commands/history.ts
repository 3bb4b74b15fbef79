// `vmcatcher history [--limit N] [--tool subscribe|cache] [--json]`: the recorded runs of vmcatcher_subscribe -U and
// vmcatcher_cache, newest first, each with what it did to every subscription and image (failures with their code).
import { escapeControl } from '@hepix/common';
import type { RunItem, RunRecord, RunTool } from '@hepix/imagelist-store';
import { type CliIo, type CommonContext, fmtDate, processIo, runTool, withStore } from '../common/context.js';
import { jsonText, pipeSafe } from '../common/format.js';
import { type OptionSpec, str, UsageError } from '../common/options.js';

const HISTORY_OPTIONS: OptionSpec[] = [
  {
    dest: 'limit',
    short: 'n',
    long: ['limit'],
    kind: 'value',
    metavar: 'N',
    help: 'Show the newest N runs (default 20).',
  },
  {
    dest: 'tool',
    long: ['tool'],
    kind: 'value',
    metavar: 'subscribe|cache',
    help: 'Only the runs of vmcatcher_subscribe -U, or of vmcatcher_cache.',
  },
];

export function runHistoryCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = processIo,
): Promise<number> {
  return runTool(
    {
      name: 'vmcatcher history',
      usage: 'vmcatcher history [--limit N] [--tool subscribe|cache] [--json] [-d URL]',
      description:
        'The recorded runs of vmcatcher_subscribe -U and vmcatcher_cache, newest first: one line per run (id, tool, ' +
        'started, ended, outcome, exit status, host:pid, counters, bytes), then one indented line per subscription ' +
        'or image it dealt with (time, action, subscription, image, error code, message). The store keeps the ' +
        'newest 1000 runs.',
      options: HISTORY_OPTIONS,
    },
    argv,
    env,
    pipeSafe(io),
    historyMain,
  );
}

const e = (v: unknown): string => escapeControl(String(v ?? ''));

function runLine(r: RunRecord): string {
  const counts = Object.entries(r.counts)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return [
    r.id,
    r.tool,
    fmtDate(r.started),
    r.ended ? fmtDate(r.ended) : 'unfinished',
    r.outcome ?? 'unfinished',
    r.exitStatus ?? '-',
    `${e(r.host)}:${r.pid}`,
    counts || '-',
    r.bytes,
  ].join('\t');
}

function itemLine(i: RunItem): string {
  return `  ${[fmtDate(i.at), e(i.action), e(i.subscription) || '-', e(i.image) || '-', e(i.code) || '-', e(i.message)].join('\t')}`;
}

function iso(d: Date | undefined): string | null {
  return d ? d.toISOString() : null;
}

async function historyMain(ctx: CommonContext): Promise<number> {
  if (ctx.positionals.length) throw new UsageError(`unexpected argument '${ctx.positionals[0]}'`);
  const limitText = str(ctx.options, 'limit') ?? '20';
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`--limit must be a positive integer: ${limitText}`);
  const tool = str(ctx.options, 'tool');
  if (tool !== undefined && tool !== 'subscribe' && tool !== 'cache')
    throw new UsageError(`--tool must be subscribe or cache: ${tool}`);
  return withStore(
    ctx,
    async (store) => {
      const runs = await store.subscriber.listRuns({ limit, ...(tool ? { tool: tool as RunTool } : {}) });
      const full = [];
      for (const r of runs) {
        const run = await store.subscriber.getRun(r.id);
        if (run) full.push(run);
      }
      if (ctx.format === 'json') {
        ctx.io.stdout(
          jsonText(
            full.map((r) => ({
              id: r.id,
              tool: r.tool,
              host: r.host,
              pid: r.pid,
              started: iso(r.started),
              ended: iso(r.ended),
              outcome: r.outcome ?? null,
              exitStatus: r.exitStatus ?? null,
              counts: r.counts,
              bytes: r.bytes,
              items: r.items.map((i) => ({
                at: i.at.toISOString(),
                action: i.action,
                subscription: i.subscription ?? null,
                uri: i.uri ?? null,
                image: i.image ?? null,
                code: i.code ?? null,
                message: i.message ?? null,
              })),
            })),
          ),
        );
        return 0;
      }
      for (const r of full) {
        ctx.io.stdout(`${runLine(r)}\n`);
        for (const i of r.items) ctx.io.stdout(`${itemLine(i)}\n`);
      }
      return 0;
    },
    { mustExist: true },
  );
}
