// node_exporter textfile metrics (the Prometheus text exposition format 0.0.4) from a status report. Label
// values are escaped per the format (backslash, double quote, line feed); times are Unix seconds.
import type { StatusReport } from '@hepix/image-cache';

type Labels = Record<string, string>;

/** A label value as the text format wants it. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (!keys.length) return '';
  return `{${keys.map((k) => `${k}="${escapeLabelValue(labels[k])}"`).join(',')}}`;
}

const seconds = (d: Date): number => d.getTime() / 1000;

class Families {
  readonly #lines: string[] = [];
  family(name: string, type: 'counter' | 'gauge', help: string, samples: [Labels, number][]): void {
    if (!samples.length) return;
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples)
      this.#lines.push(`${name}${labelText(labels)} ${formatValue(value)}`);
  }
  text(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

/**
 * Every metric of the store's view: the same families whichever tool writes them, so all tools may write one
 * file (each write replaces it with the current view). `probe` adds the status probe's state.
 */
export function renderMetrics(
  report: StatusReport,
  extra: { probe?: { state: string; exitStatus: number } } = {},
): string {
  const f = new Families();
  const now = seconds(report.at);
  f.family(
    'vmcatcher_runs_total',
    'counter',
    'Recorded runs of vmcatcher_subscribe -U and vmcatcher_cache by outcome (success, partial, failure).',
    report.totals.map((t) => [{ tool: t.tool, outcome: t.outcome }, t.runs]),
  );
  const failures = new Map<string, number>();
  const bytes = new Map<string, number>();
  for (const t of report.totals) {
    failures.set(t.tool, (failures.get(t.tool) ?? 0) + (t.outcome === 'success' ? 0 : t.runs));
    bytes.set(t.tool, (bytes.get(t.tool) ?? 0) + t.bytes);
  }
  f.family(
    'vmcatcher_run_failures_total',
    'counter',
    'Runs that did not fully succeed (partial or failure).',
    [...failures].map(([tool, n]) => [{ tool }, n]),
  );
  f.family(
    'vmcatcher_downloaded_bytes_total',
    'counter',
    'Bytes downloaded: image lists by vmcatcher_subscribe -U, images by vmcatcher_cache.',
    [...bytes].map(([tool, n]) => [{ tool }, n]),
  );
  const last = report.runs.filter((r) => r.last);
  f.family(
    'vmcatcher_last_run_timestamp_seconds',
    'gauge',
    'When the newest run of each tool ended (or started, while it runs).',
    last.map((r) => [{ tool: r.tool }, seconds(r.last?.ended ?? r.last?.started ?? report.at)]),
  );
  f.family(
    'vmcatcher_last_run_success',
    'gauge',
    'Whether the newest run of each tool succeeded (1) or not (0).',
    last.map((r) => [{ tool: r.tool }, r.last?.outcome === 'success' ? 1 : 0]),
  );
  f.family(
    'vmcatcher_last_run_exit_status',
    'gauge',
    'The exit status of the newest ended run of each tool.',
    last
      .filter((r) => r.last?.exitStatus !== undefined)
      .map((r) => [{ tool: r.tool }, r.last?.exitStatus ?? 0]),
  );
  f.family(
    'vmcatcher_last_successful_run_timestamp_seconds',
    'gauge',
    'When the newest successful run of each tool ended.',
    report.runs
      .filter((r) => r.lastSuccess?.ended)
      .map((r) => [{ tool: r.tool }, seconds(r.lastSuccess?.ended ?? report.at)]),
  );
  const subs = report.subscriptions;
  f.family(
    'vmcatcher_subscription_last_attempt_timestamp_seconds',
    'gauge',
    'When the subscription was last updated, successfully or not.',
    subs
      .filter((s) => s.lastAttempt)
      .map((s) => [{ subscription: s.identifier }, seconds(s.lastAttempt as Date)]),
  );
  f.family(
    'vmcatcher_subscription_last_success_timestamp_seconds',
    'gauge',
    'When the subscription was last updated successfully.',
    subs
      .filter((s) => s.lastSuccess)
      .map((s) => [{ subscription: s.identifier }, seconds(s.lastSuccess as Date)]),
  );
  f.family(
    'vmcatcher_subscription_seconds_since_last_success',
    'gauge',
    'Seconds from the last successful update to when this file was written (+Inf: never).',
    subs.map((s) => [
      { subscription: s.identifier },
      s.lastSuccess ? Math.max(0, now - seconds(s.lastSuccess)) : Number.POSITIVE_INFINITY,
    ]),
  );
  f.family(
    'vmcatcher_subscription_update_failing',
    'gauge',
    'Whether the last update attempt of the subscription failed (1) or not (0).',
    subs.map((s) => [{ subscription: s.identifier }, s.failing ? 1 : 0]),
  );
  f.family(
    'vmcatcher_imagelist_expiry_timestamp_seconds',
    'gauge',
    "The dc:date:expires of the subscription's newest stored list.",
    subs.filter((s) => s.list).map((s) => [{ subscription: s.identifier }, seconds(s.list?.expires as Date)]),
  );
  f.family(
    'vmcatcher_imagelist_expired',
    'gauge',
    "Whether the subscription's newest stored list expired or was withdrawn (1) or not (0).",
    subs
      .filter((s) => s.list)
      .map((s) => [{ subscription: s.identifier }, s.list?.expired || s.list?.withdrawn ? 1 : 0]),
  );
  if (report.cacheChecked) {
    f.family('vmcatcher_images_cached', 'gauge', "Images in the cache directory's index.", [
      [{}, report.imagesCached],
    ]);
    for (const [what, pick, help] of [
      [
        'expected',
        (s: (typeof subs)[number]) => s.images.expected,
        'Subscribed and available images the cache must hold.',
      ],
      [
        'missing',
        (s: (typeof subs)[number]) => s.images.missing.length,
        'Subscribed images missing in the cache.',
      ],
      [
        'outdated',
        (s: (typeof subs)[number]) => s.images.outdated.length,
        'Subscribed images cached with other bytes than the newest list has.',
      ],
    ] as const) {
      f.family(
        `vmcatcher_subscription_images_${what}`,
        'gauge',
        help,
        subs.map((s) => [{ subscription: s.identifier }, pick(s)]),
      );
    }
  }
  f.family(
    'vmcatcher_events_failed',
    'gauge',
    'Failed event deliveries: queued for --retry-events, or dead.',
    [
      [{ state: 'queued' }, report.events.queued],
      [{ state: 'dead' }, report.events.dead],
    ],
  );
  f.family(
    'vmcatcher_lock_held',
    'gauge',
    'Whether a lock of the tools is held now (1) or free (0).',
    report.locks.map((l) => [{ lock: l.name }, l.holder ? 1 : 0]),
  );
  if (extra.probe) {
    f.family('vmcatcher_status_state', 'gauge', 'The status probe: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.', [
      [{ state: extra.probe.state }, extra.probe.exitStatus],
    ]);
  }
  f.family('vmcatcher_metrics_timestamp_seconds', 'gauge', 'When this file was written.', [[{}, now]]);
  return f.text();
}
