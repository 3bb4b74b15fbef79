// `vmcatcher status [--json] [--warn-expiry=DAYS] [-C DIR] [--prometheus FILE]`: a monitoring probe in the
// monitoring-plugin convention (Nagios, Icinga): a first line `VMCATCHER <STATE> - <summary> | <perfdata>`, the
// details after it, and the exit status 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. UNKNOWN is also what a store
// that cannot be read, or a bad option, gives: never 2, which a probe would read as CRITICAL.
import { escapeControl } from '@hepix/common';
import type { ProbeFinding, ProbeState, StatusReport } from '@hepix/image-cache';
import {
  type CliIo,
  COMMON_OPTIONS,
  type CommonContext,
  fmtDate,
  processIo,
  runTool,
  withStore,
} from '../common/context.js';
import { jsonText, pipeSafe } from '../common/format.js';
import { type OptionSpec, parseOptions, str } from '../common/options.js';
import { PROMETHEUS_OPTION, writePrometheus } from '../common/runs.js';

const EXITS: Record<ProbeState, number> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

const STATUS_OPTIONS: OptionSpec[] = [
  {
    dest: 'warnExpiry',
    long: ['warn-expiry'],
    kind: 'value',
    metavar: 'DAYS',
    help: 'A list expiring within DAYS days is a WARNING (default 3).',
  },
  {
    dest: 'cacheDir',
    short: 'C',
    long: ['cache-dir'],
    kind: 'value',
    metavar: 'DIR',
    help: 'The cache directory whose cache.index is compared with the subscribed images (env VMCATCHER_CACHE_DIR_CACHE, default "cache").',
  },
  PROMETHEUS_OPTION,
];

const DESCRIPTION = `Checks what vmcatcher keeps, for a monitoring system: per subscription the last update attempt and
success, the last error, the list's expiry, and the subscribed images missing or outdated in the cache; failed
and dead events; who holds the locks; the last runs. The first line is the probe's verdict.

Exit status: 0 OK; 1 WARNING (a list expiring within --warn-expiry days, a failed last update, a subscription
without a list, failed or dead events, a failed last run); 2 CRITICAL (a subscribed image missing or outdated in
the cache, an expired or withdrawn list); 3 UNKNOWN (the store cannot be read, a bad option).`;

/** Usage errors are UNKNOWN too: a probe must never exit 2 (CRITICAL) for a typo in its command line. */
class ProbeUsageError extends Error {}

export async function runStatusCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = processIo,
): Promise<number> {
  const out = pipeSafe(io);
  try {
    parseOptions(argv, [...STATUS_OPTIONS, ...COMMON_OPTIONS]);
  } catch (err) {
    out.stdout(`VMCATCHER UNKNOWN - ${oneLine(err instanceof Error ? err.message : String(err))}\n`);
    return EXITS.UNKNOWN;
  }
  return runTool(
    {
      name: 'vmcatcher status',
      usage: 'vmcatcher status [--json] [--warn-expiry=DAYS] [-C DIR] [--prometheus FILE] [-d URL]',
      description: DESCRIPTION,
      options: STATUS_OPTIONS,
    },
    argv,
    env,
    out,
    statusMain,
  );
}

function oneLine(text: string): string {
  return escapeControl(text.replace(/\s*\n\s*/g, ' '));
}

function probeSummary(state: ProbeState, report: StatusReport, findings: ProbeFinding[]): string {
  const missing = report.subscriptions.reduce((n, s) => n + s.images.missing.length, 0);
  const outdated = report.subscriptions.reduce((n, s) => n + s.images.outdated.length, 0);
  const perf = [
    `subscriptions=${report.subscriptions.length}`,
    `images_cached=${report.imagesCached}`,
    `images_missing=${missing}`,
    `images_outdated=${outdated}`,
    `events_queued=${report.events.queued}`,
    `events_dead=${report.events.dead}`,
  ].join(' ');
  const text =
    state === 'OK'
      ? `${report.subscriptions.length} subscription(s), ${report.imagesCached} image(s) cached`
      : [...findings]
          .sort((a, b) => (a.state === b.state ? 0 : a.state === 'CRITICAL' ? -1 : 1))
          .map((f) => (f.subscription ? `${f.subscription}: ${f.message}` : f.message))
          .join('; ');
  // '|' starts the performance data: it must not appear in the text.
  return `VMCATCHER ${state} - ${oneLine(text).replace(/\|/g, '/')} | ${perf}`;
}

function detailLines(report: StatusReport): string[] {
  const e = (v: unknown) => escapeControl(String(v));
  const d = (x: Date | undefined) => (x ? fmtDate(x) : 'never');
  const lines: string[] = [];
  for (const s of report.subscriptions) {
    lines.push(`subscription ${e(s.identifier)} ${e(s.uri)}${s.authorised ? '' : ' (not authorised)'}`);
    lines.push(`  last attempt: ${d(s.lastAttempt)}; last success: ${d(s.lastSuccess)}`);
    if (s.lastError)
      lines.push(
        `  last error${s.failing ? '' : ' (since recovered)'}: ${d(s.lastError.at)} ${e(s.lastError.code)}: ${e(s.lastError.message)}`,
      );
    if (s.list)
      lines.push(
        `  list: version ${e(s.list.version)}, expires ${d(s.list.expires)}${s.list.expired ? ' (expired)' : ''}${s.list.withdrawn ? ` (withdrawn: ${e(s.list.withdrawn.code)})` : ''}`,
      );
    else lines.push('  list: none recorded');
    if (report.cacheChecked) {
      const i = s.images;
      lines.push(
        `  images: ${i.expected} expected, ${i.cached} cached, missing: ${i.missing.map(e).join(', ') || '-'}; outdated: ${i.outdated.map(e).join(', ') || '-'}`,
      );
    }
  }
  lines.push(`events: ${report.events.queued} queued, ${report.events.dead} dead`);
  for (const l of report.locks)
    lines.push(
      `lock ${l.name}: ${l.holder ? `held by pid ${l.holder.pid} on ${e(l.holder.host)} since ${d(l.holder.since)}` : 'free'}`,
    );
  for (const r of report.runs) {
    const last = r.last
      ? `#${r.last.id} ${r.last.outcome ?? 'unfinished'}${r.last.exitStatus !== undefined ? ` (exit ${r.last.exitStatus})` : ''} started ${d(r.last.started)}`
      : 'none';
    const ok = r.lastSuccess ? `#${r.lastSuccess.id} ended ${d(r.lastSuccess.ended)}` : 'none';
    lines.push(`run ${r.tool}: last ${last}; last success ${ok}`);
  }
  return lines;
}

async function statusMain(ctx: CommonContext): Promise<number> {
  try {
    if (ctx.positionals.length) throw new ProbeUsageError(`unexpected argument '${ctx.positionals[0]}'`);
    const warnText = str(ctx.options, 'warnExpiry') ?? '3';
    const warnExpiryDays = Number(warnText);
    if (warnText.trim() === '' || !Number.isFinite(warnExpiryDays) || warnExpiryDays < 0)
      throw new ProbeUsageError(`--warn-expiry must be a number of days, 0 or more: ${warnText}`);
    const cacheDir = str(ctx.options, 'cacheDir') ?? ctx.env.VMCATCHER_CACHE_DIR_CACHE ?? 'cache';
    const { collectStatus, judgeStatus } = await import('@hepix/image-cache');
    return await withStore(
      ctx,
      async (store) => {
        const report = await collectStatus({ store, cacheDir });
        const { state, findings } = judgeStatus(report, { warnExpiryDays });
        const exitStatus = EXITS[state];
        const summary = probeSummary(state, report, findings);
        if (ctx.format === 'json') {
          ctx.io.stdout(jsonText({ state, exitStatus, summary, findings, report }));
        } else {
          ctx.io.stdout(`${summary}\n`);
          for (const line of detailLines(report)) ctx.io.stdout(`${line}\n`);
        }
        const written = await writePrometheus(ctx, store, 0, cacheDir, {
          probe: { state, exitStatus },
          report,
        });
        // A metrics file that cannot be written makes an OK probe UNKNOWN; a worse verdict stands.
        return written !== 0 && exitStatus === 0 ? EXITS.UNKNOWN : exitStatus;
      },
      { mustExist: true },
    );
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const code = (err as { code?: unknown }).code;
    const what =
      err instanceof ProbeUsageError
        ? message
        : typeof code === 'string' && code.startsWith('ERR_STORE_')
          ? `cannot read the store: ${message}`
          : `cannot check: ${message}`;
    if (ctx.format === 'json') {
      ctx.io.stdout(
        jsonText({
          state: 'UNKNOWN',
          exitStatus: EXITS.UNKNOWN,
          summary: `VMCATCHER UNKNOWN - ${oneLine(what)}`,
          code: typeof code === 'string' ? code : null,
        }),
      );
    } else {
      ctx.io.stdout(`VMCATCHER UNKNOWN - ${oneLine(what)}\n`);
    }
    if (typeof code === 'string') ctx.log('error', message, { code });
    return EXITS.UNKNOWN;
  }
}
