// Re-delivery of recorded event failures (`vmcatcher_cache --retry-events`). The queue is delivered oldest first
// and stops at the first event that fails again, so handlers see events in order; an event that has failed
// `maxAttempts` times moves to the dead-letter list instead, so it can no longer block the ones after it. Dead
// events are re-delivered only when asked (`includeDead`), and dropped with `dropEvent`.
import type { Logger } from '@hepix/common';
import type { Store } from '@hepix/imagelist-store';
import { runEventCommand } from '../../events/command.js';
import { describeFailure } from '../../events/deliver.js';
import type { AnyVmcatcherEvent } from '../../events/types.js';

export interface RetryEventsOptions {
  /** Re-deliver the dead-letter list too (in order with the queue). */
  includeDead?: boolean;
}

export interface RetryEventsResult {
  delivered: number;
  /** Failures still in the queue (delivery stops at the first failure, so order is kept). */
  remaining: number;
  /** Events moved to the dead-letter list by this call. */
  movedToDead: number;
  /** Events in the dead-letter list now. */
  dead: number;
}

export interface RetrySettings extends RetryEventsOptions {
  eventCommand: string | undefined;
  newImageEventCommand: string | undefined;
  maxAttempts: number;
  timeoutMs: number;
  killGraceMs: number | undefined;
  env: NodeJS.ProcessEnv | undefined;
  log: Logger;
}

export async function retryFailedEvents(store: Store, s: RetrySettings): Promise<RetryEventsResult> {
  const { subscriber } = store;
  const failed = await subscriber.listFailedEvents(s.includeDead ? {} : { dead: false });
  let delivered = 0;
  let movedToDead = 0;
  for (const f of failed) {
    // New-image events went to the subscription's command (VMCATCHER_SUB_EVENT), the rest to the cache's.
    const command = f.type === 'SubscriptionImageNew' ? s.newImageEventCommand : s.eventCommand;
    if (!command) {
      if (f.dead) continue;
      s.log(
        'warn',
        `no event command to re-deliver the ${f.type} event ${f.id}; stopping to keep the order`,
        {
          name: 'cache',
        },
      );
      break;
    }
    const r = await runEventCommand(command, f.payload as unknown as AnyVmcatcherEvent, {
      timeoutMs: s.timeoutMs,
      ...(s.killGraceMs === undefined ? {} : { killGraceMs: s.killGraceMs }),
      ...(s.env === undefined ? {} : { env: s.env }),
      log: s.log,
    });
    if (r.exitCode === 0 && !r.timedOut) {
      await subscriber.deleteFailedEvent(f.id);
      delivered++;
      continue;
    }
    const attempts = await subscriber.bumpFailedEvent(f.id, describeFailure(r, s.timeoutMs));
    if (f.dead) continue;
    if (attempts >= s.maxAttempts) {
      await subscriber.markFailedEventDead(f.id);
      movedToDead++;
      s.log(
        'error',
        `the ${f.type} event ${f.id} failed ${attempts} times; moved to the dead-letter list (vmcatcher_cache --failed-events)`,
        { name: 'cache' },
      );
      continue;
    }
    break;
  }
  return {
    delivered,
    remaining: (await subscriber.listFailedEvents({ dead: false })).length,
    movedToDead,
    dead: (await subscriber.listFailedEvents({ dead: true })).length,
  };
}
