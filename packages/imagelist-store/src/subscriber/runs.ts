// The history of `vmcatcher_subscribe -U` and `vmcatcher_cache` runs: a row per run, a row per subscription or
// image it dealt with, totals that outlive the history, and each subscription's last attempt, success and error.
// The history is pruned to the newest `keep` runs whenever one ends, so months of cron stay bounded.
import { hostname } from 'node:os';
import type {
  RunItem,
  RunItemInput,
  RunOutcome,
  RunRecord,
  RunRecorder,
  RunTool,
  SubscriberRepository,
} from '../api.js';
import type { Db, RepoContext } from '../context.js';
import { internal, invalid } from '../errors.js';
import type { SubRunItemTable, SubRunTable } from '../schema.js';
import { fromDb, toDb, toNum } from '../util.js';
import { requireSub } from './shared.js';

/** Default of `beginRun({ keep })`: the newest 1000 runs are kept with their items. */
export const DEFAULT_RUN_HISTORY = 1000;
/** Run items per INSERT of `items()` (8 parameters each, well under every dialect's limit). */
const ITEM_BATCH = 500;
export const RUN_TOOLS: readonly RunTool[] = ['subscribe', 'cache'];
export const RUN_OUTCOMES: readonly RunOutcome[] = ['success', 'partial', 'failure'];

export type RunMethods = Pick<
  SubscriberRepository,
  'recordUpdateAttempt' | 'beginRun' | 'listRuns' | 'getRun' | 'runTotals'
>;

type RunRow = Omit<SubRunTable, 'id'> & { id: number | string };
type ItemRow = Omit<SubRunItemTable, 'id' | 'run_id'>;

function runRecord(r: RunRow): RunRecord {
  const out: RunRecord = {
    id: toNum(r.id),
    tool: r.tool as RunTool,
    host: r.host,
    pid: toNum(r.pid),
    started: fromDb(r.started),
    counts: JSON.parse(r.counts) as Record<string, number>,
    bytes: toNum(r.bytes),
  };
  if (r.ended !== null) out.ended = fromDb(r.ended);
  if (r.outcome !== null) out.outcome = r.outcome as RunOutcome;
  if (r.exit_status !== null) out.exitStatus = toNum(r.exit_status);
  return out;
}

function runItem(r: ItemRow): RunItem {
  const out: RunItem = { action: r.action, at: fromDb(r.at) };
  if (r.subscription !== null) out.subscription = r.subscription;
  if (r.uri !== null) out.uri = r.uri;
  if (r.image !== null) out.image = r.image;
  if (r.code !== null) out.code = r.code;
  if (r.message !== null) out.message = r.message;
  return out;
}

function optionalText(v: unknown, what: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw invalid(`a run item's ${what} must be text`, 'run item');
  return v;
}

async function prune(q: Db, keep: number): Promise<void> {
  // The id of the oldest run kept; everything older goes, items by cascade.
  const edge = await q
    .selectFrom('sub_run')
    .select('id')
    .orderBy('id', 'desc')
    .offset(keep - 1)
    .limit(1)
    .executeTakeFirst();
  if (edge) await q.deleteFrom('sub_run').where('id', '<', toNum(edge.id)).execute();
}

export function createRuns(ctx: RepoContext): RunMethods {
  const guarded =
    <A extends unknown[], T>(what: string, fn: (...a: A) => Promise<T>) =>
    async (...a: A): Promise<T> => {
      try {
        return await fn(...a);
      } catch (err) {
        throw internal(err, `run.${what}`, ctx.dialect.url);
      }
    };

  return {
    async recordUpdateAttempt(subscription, attempt) {
      const at = attempt?.at ?? ctx.now();
      const error = attempt?.error;
      if (error !== undefined && (typeof error.code !== 'string' || error.code === ''))
        throw invalid('a failed attempt needs an error code', 'subscription', subscription);
      await ctx.tx(async ({ q }) => {
        const sub = await requireSub(q, subscription);
        await q
          .updateTable('sub_subscription')
          .set(
            error
              ? {
                  last_attempt: toDb(at),
                  last_error_at: toDb(at),
                  last_error_code: error.code,
                  last_error: String(error.message ?? ''),
                }
              : { last_attempt: toDb(at), last_success: toDb(at) },
          )
          .where('id', '=', sub.id)
          .execute();
      });
    },

    async beginRun(input) {
      const tool = input?.tool;
      if (!RUN_TOOLS.includes(tool))
        throw invalid(`a run's tool must be one of ${RUN_TOOLS.join(', ')}`, 'run');
      const keep = input.keep ?? DEFAULT_RUN_HISTORY;
      if (!Number.isInteger(keep) || keep < 1)
        throw invalid('keep must be a positive whole number of runs', 'run');
      const started = ctx.now();
      const row = await ctx.q
        .insertInto('sub_run')
        .values({
          tool,
          host: input.host ?? hostname(),
          pid: input.pid ?? process.pid,
          started: toDb(started),
          counts: '{}',
          bytes: 0,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const id = toNum(row.id);
      const counts: Record<string, number> = {};
      let bytes = 0;
      let ended = false;
      const itemRow = (item: RunItemInput) => {
        if (typeof item?.action !== 'string' || item.action === '')
          throw invalid('a run item needs an action', 'run item');
        return {
          run_id: id,
          subscription: optionalText(item.subscription, 'subscription'),
          uri: optionalText(item.uri, 'uri'),
          image: optionalText(item.image, 'image'),
          action: item.action,
          code: optionalText(item.code, 'code'),
          message: optionalText(item.message, 'message'),
          at: toDb(item.at ?? ctx.now()),
        };
      };
      const recorder: RunRecorder = {
        id,
        tool,
        item: guarded('item', async (item) => {
          await ctx.q.insertInto('sub_run_item').values(itemRow(item)).execute();
        }),
        items: guarded('items', async (items) => {
          // Every item is checked before any is written: a bad one leaves the history as it was.
          const rows = Array.from(items ?? [], itemRow);
          if (rows.length === 0) return;
          // One statement per batch, in one transaction: on SQLite each autocommitted row was a WAL fsync
          // (a first import of 100 lists of 100 images recorded 10 100 items, one by one).
          await ctx.tx(async ({ q }) => {
            for (let i = 0; i < rows.length; i += ITEM_BATCH)
              await q
                .insertInto('sub_run_item')
                .values(rows.slice(i, i + ITEM_BATCH))
                .execute();
          });
        }),
        count(name, by = 1) {
          counts[name] = (counts[name] ?? 0) + by;
        },
        addBytes(n) {
          if (Number.isFinite(n) && n > 0) bytes += n;
        },
        end: guarded('end', async (result) => {
          if (!RUN_OUTCOMES.includes(result?.outcome))
            throw invalid(`a run's outcome must be one of ${RUN_OUTCOMES.join(', ')}`, 'run');
          if (ended) throw invalid(`run ${id} has ended already`, 'run', String(id));
          ended = true;
          await ctx.tx(async ({ q }) => {
            await q
              .updateTable('sub_run')
              .set({
                ended: toDb(ctx.now()),
                outcome: result.outcome,
                exit_status: result.exitStatus ?? null,
                counts: JSON.stringify(counts),
                bytes,
              })
              .where('id', '=', id)
              .execute();
            await q
              .insertInto('sub_run_total')
              .values({ tool, outcome: result.outcome, runs: 1, bytes })
              .onConflict((oc) =>
                oc.columns(['tool', 'outcome']).doUpdateSet((eb) => ({
                  runs: eb('sub_run_total.runs', '+', 1),
                  bytes: eb('sub_run_total.bytes', '+', bytes),
                })),
              )
              .execute();
            await prune(q, keep);
          });
          const r = await ctx.q.selectFrom('sub_run').selectAll().where('id', '=', id).executeTakeFirst();
          // Pruned at once only with keep 1 and a newer run that ended first; report what was written.
          return r
            ? runRecord(r)
            : {
                id,
                tool,
                host: input.host ?? hostname(),
                pid: input.pid ?? process.pid,
                started,
                counts,
                bytes,
              };
        }),
      };
      return recorder;
    },

    async listRuns(filter = {}) {
      const limit = filter.limit ?? 20;
      if (!Number.isInteger(limit) || limit < 1)
        throw invalid('limit must be a positive whole number', 'run');
      let q = ctx.q.selectFrom('sub_run').selectAll();
      if (filter.tool !== undefined) q = q.where('tool', '=', filter.tool);
      const rows = await q.orderBy('id', 'desc').limit(limit).execute();
      return rows.map(runRecord);
    },

    async getRun(id) {
      const r = await ctx.q.selectFrom('sub_run').selectAll().where('id', '=', id).executeTakeFirst();
      if (!r) return undefined;
      const items = await ctx.q
        .selectFrom('sub_run_item')
        .selectAll()
        .where('run_id', '=', id)
        .orderBy('id')
        .execute();
      return { ...runRecord(r), items: items.map(runItem) };
    },

    async runTotals() {
      const rows = await ctx.q
        .selectFrom('sub_run_total')
        .selectAll()
        .orderBy('tool')
        .orderBy('outcome')
        .execute();
      return rows.map((r) => ({
        tool: r.tool as RunTool,
        outcome: r.outcome as RunOutcome,
        runs: toNum(r.runs),
        bytes: toNum(r.bytes),
      }));
    },
  };
}
