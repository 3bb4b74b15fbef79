// The run history and the metrics file of `vmcatcher_subscribe -U` and `vmcatcher_cache`: every run is recorded
// in the store (begun here, its items by the library, ended here with its outcome and exit status), and with
// `--prometheus FILE` the store's view is written as node_exporter textfile metrics once the run has ended.
import type { StatusReport } from '@hepix/image-cache';
import type { RunOutcome, RunRecorder, RunTool, Store } from '@hepix/imagelist-store';
import { CliError, type CommonContext, exitCodeFor } from './context.js';
import { EXIT } from './exit.js';
import type { OptionSpec } from './options.js';
import { renderMetrics } from './prometheus.js';

export const PROMETHEUS_OPTION: OptionSpec = {
  dest: 'prometheus',
  long: ['prometheus'],
  kind: 'value',
  metavar: 'FILE',
  help: 'Write node_exporter textfile metrics (runs, failures, bytes, images cached, last success, list expiry) to FILE, atomically, after the run.',
};

/**
 * Runs `fn` as one recorded run of `tool`: it gets the recorder, returns the exit status and the outcome. A
 * throw ends the run as `failure` with the status the error maps to, and passes through.
 */
export async function recordedRun(
  store: Store,
  tool: RunTool,
  fn: (recorder: RunRecorder) => Promise<{ status: number; outcome: RunOutcome }>,
): Promise<number> {
  const recorder = await store.subscriber.beginRun({ tool });
  let result: { status: number; outcome: RunOutcome };
  try {
    result = await fn(recorder);
  } catch (err) {
    await recorder.end({ outcome: 'failure', exitStatus: exitCodeFor(err).exitCode }).catch(() => {});
    throw err;
  }
  await recorder.end({ outcome: result.outcome, exitStatus: result.status });
  return result.status;
}

/**
 * With `--prometheus FILE`: the metrics of the store (and of `cacheDir`'s index, when given) written atomically.
 * A failure is logged (`ERR_CLI_PROMETHEUS`) and makes a successful run exit 1; a failed run keeps its status.
 */
export async function writePrometheus(
  ctx: CommonContext,
  store: Store,
  status: number,
  cacheDir: string | undefined,
  extra: { probe?: { state: string; exitStatus: number }; report?: StatusReport } = {},
): Promise<number> {
  const file = ctx.options.prometheus as string | undefined;
  if (file === undefined) return status;
  try {
    const { atomicWriteFile } = await import('@hepix/common');
    const { collectStatus } = await import('@hepix/image-cache');
    const report = extra.report ?? (await collectStatus({ store, ...(cacheDir ? { cacheDir } : {}) }));
    await atomicWriteFile(file, renderMetrics(report, extra));
    return status;
  } catch (cause) {
    const err = new CliError(
      'ERR_CLI_PROMETHEUS',
      `Cannot write the metrics file '${file}': ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    ctx.log('error', err.message, { code: err.code });
    return status === 0 ? EXIT.ERR_CLI_PROMETHEUS : status;
  }
}
