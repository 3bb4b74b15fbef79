// The textfile metrics from a report built by hand: label values with every character the text format must
// escape survive a real parser, every line follows the format's grammar, and a value is what the report says.
import type { StatusReport, SubscriptionStatus } from '@hepix/image-cache';
import { describe, expect, it } from 'vitest';
import { escapeLabelValue, renderMetrics } from '../src/common/prometheus.js';
import { parseMetrics, sample } from './prometheus-format.js';

const AT = new Date('2026-06-01T00:00:00Z');

function sub(identifier: string, extra: Partial<SubscriptionStatus> = {}): SubscriptionStatus {
  return {
    identifier,
    uri: `https://example.org/${encodeURIComponent(identifier)}`,
    authorised: true,
    failing: false,
    images: { expected: 2, cached: 1, missing: ['m'], outdated: [] },
    ...extra,
  };
}

function report(subscriptions: SubscriptionStatus[], cacheChecked = true): StatusReport {
  return {
    at: AT,
    subscriptions,
    cacheChecked,
    imagesCached: 7,
    events: { queued: 2, dead: 1 },
    locks: [
      { name: 'vmcatcher-subscribe-update' },
      {
        name: 'vmcatcher-cache',
        holder: { host: 'h', pid: 1, since: AT, heartbeat: AT, expires: AT },
      },
    ],
    runs: [
      {
        tool: 'subscribe',
        last: {
          id: 9,
          tool: 'subscribe',
          host: 'h',
          pid: 1,
          started: AT,
          ended: AT,
          outcome: 'partial',
          exitStatus: 10,
          counts: {},
          bytes: 5,
        },
      },
      { tool: 'cache' },
    ],
    totals: [
      { tool: 'subscribe', outcome: 'success', runs: 4, bytes: 100 },
      { tool: 'subscribe', outcome: 'partial', runs: 1, bytes: 5 },
    ],
  };
}

describe('renderMetrics', () => {
  it('escapes backslash, double quote and line feed in label values, as the text format says', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const odd = 'we\\ird "sub"\nscription';
    const text = renderMetrics(report([sub(odd, { lastSuccess: new Date(AT.getTime() - 90_000) })]));
    const metrics = parseMetrics(text);
    expect(sample(metrics, 'vmcatcher_subscription_seconds_since_last_success', { subscription: odd })).toBe(
      90,
    );
    expect(sample(metrics, 'vmcatcher_subscription_images_missing', { subscription: odd })).toBe(1);
  });

  it('writes counters from the totals and gauges from the report', () => {
    const expires = new Date('2026-06-04T00:00:00Z');
    const metrics = parseMetrics(
      renderMetrics(
        report([
          sub('a', { list: { version: '1', expires, expired: false } }),
          sub('b', { failing: true, lastError: { at: AT, code: 'ERR_LIST_FETCH', message: 'x' } }),
        ]),
        { probe: { state: 'WARNING', exitStatus: 1 } },
      ),
    );
    const family = (name: string) => metrics.find((f) => f.name === name);
    expect(family('vmcatcher_runs_total')?.type).toBe('COUNTER');
    expect(family('vmcatcher_subscription_update_failing')?.type).toBe('GAUGE');
    expect(sample(metrics, 'vmcatcher_runs_total', { tool: 'subscribe', outcome: 'success' })).toBe(4);
    expect(sample(metrics, 'vmcatcher_run_failures_total', { tool: 'subscribe' })).toBe(1);
    expect(sample(metrics, 'vmcatcher_downloaded_bytes_total', { tool: 'subscribe' })).toBe(105);
    expect(sample(metrics, 'vmcatcher_imagelist_expiry_timestamp_seconds', { subscription: 'a' })).toBe(
      expires.getTime() / 1000,
    );
    expect(
      sample(metrics, 'vmcatcher_imagelist_expiry_timestamp_seconds', { subscription: 'b' }),
    ).toBeUndefined();
    expect(sample(metrics, 'vmcatcher_subscription_update_failing', { subscription: 'b' })).toBe(1);
    expect(sample(metrics, 'vmcatcher_subscription_seconds_since_last_success', { subscription: 'b' })).toBe(
      Number.POSITIVE_INFINITY,
    );
    expect(sample(metrics, 'vmcatcher_events_failed', { state: 'dead' })).toBe(1);
    expect(sample(metrics, 'vmcatcher_lock_held', { lock: 'vmcatcher-cache' })).toBe(1);
    expect(sample(metrics, 'vmcatcher_last_run_exit_status', { tool: 'subscribe' })).toBe(10);
    expect(sample(metrics, 'vmcatcher_last_run_success', { tool: 'cache' })).toBeUndefined();
    expect(sample(metrics, 'vmcatcher_images_cached')).toBe(7);
    expect(sample(metrics, 'vmcatcher_status_state', { state: 'WARNING' })).toBe(1);
  });

  it('leaves out the cache families when no cache directory was compared', () => {
    const metrics = parseMetrics(renderMetrics(report([sub('a')], false)));
    expect(metrics.map((f) => f.name)).not.toContain('vmcatcher_images_cached');
    expect(metrics.map((f) => f.name)).not.toContain('vmcatcher_subscription_images_missing');
    expect(sample(metrics, 'vmcatcher_subscription_update_failing', { subscription: 'a' })).toBe(0);
  });
});
