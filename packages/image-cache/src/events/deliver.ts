import type { Store } from '@hepix/imagelist-store';
import { type EventCommandResult, type RunEventCommandOptions, runEventCommand } from './command.js';
import type { AnyVmcatcherEvent } from './types.js';

export interface DeliverEventResult extends EventCommandResult {
  /** True when the command succeeded. */
  delivered: boolean;
  /** The id of the recorded failure (for `vmcatcher_cache --retry-events`), when it failed and was recorded. */
  failedEventId?: number;
}

/** How a failed delivery is described in the store. */
export function describeFailure(r: EventCommandResult, timeoutMs: number): string {
  if (r.spawnError) return `could not be started: ${r.spawnError}`;
  if (r.timedOut) return `timed out after ${timeoutMs} ms`;
  if (r.exitCode === null) return `killed by ${r.signal}`;
  return `exit ${r.exitCode}${r.stderr ? `: ${r.stderr.trim().slice(0, 2000)}` : ''}`;
}

/**
 * Runs the event command (`runEventCommand`) and, when it fails or times out, records the event with
 * `store.subscriber.recordFailedEvent` so that `vmcatcher_cache --retry-events` re-delivers it in order.
 * Never throws and never vetoes: a failure is logged and reported in the result.
 */
export async function deliverEvent(
  store: Pick<Store, 'subscriber'>,
  command: string,
  event: AnyVmcatcherEvent,
  options: RunEventCommandOptions = {},
): Promise<DeliverEventResult> {
  const r = await runEventCommand(command, event, options);
  if (r.exitCode === 0 && !r.timedOut) return { ...r, delivered: true };
  try {
    const id = await store.subscriber.recordFailedEvent({
      type: event.type,
      payload: JSON.parse(JSON.stringify(event)) as Record<string, unknown>,
      error: describeFailure(r, options.timeoutMs ?? 10_000),
    });
    return { ...r, delivered: false, failedEventId: id };
  } catch (err) {
    options.log?.('error', `could not record the failed ${event.type} event: ${(err as Error).message}`);
    return { ...r, delivered: false };
  }
}
