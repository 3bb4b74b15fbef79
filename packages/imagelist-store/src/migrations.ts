// Versioned schema migrations, applied by kysely's Migrator on open. Never destructive: a migration adds tables,
// columns and indexes, and rewrites values only into an equivalent form (0003: DNs into their canonical
// spelling). Names sort in application order.

import type { Logger } from '@hepix/common';
import { type Migration, type MigrationProvider, sql } from 'kysely';
import type { DialectDdl } from './dialect.js';
import { canonicalDn, canonicalDnMetadata, planCanonicalKeys } from './dn.js';
import type { AnyKysely } from './schema.js';
import { encodeMetadata } from './util.js';

type AnyDb = AnyKysely;

/** What the migrations need of the dialect: its column types and DDL capabilities. */
export interface MigrationDialect {
  ddl: DialectDdl;
}

function initial(dialect: MigrationDialect): Migration {
  const t = dialect.ddl;
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('store_meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('store_lock')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('pid', 'integer', (c) => c.notNull())
        .addColumn('acquired', 'text', (c) => c.notNull())
        .execute();

      // Publisher (vmcaster): each endorser, list and image keeps its key/value metadata as one JSON object
      // of strings (one key once, by construction; the originals' per-key rows allowed duplicates). A list of
      // 10 000 images is then 10 000 rows, not 130 000.
      for (const [table, key] of [
        ['pub_endorser', 'dn'],
        ['pub_imagelist', 'identifier'],
        ['pub_image', 'identifier'],
      ] as const) {
        let builder = db.schema
          .createTable(table)
          .addColumn('id', t.idType, t.id)
          .addColumn(key, 'text', (c) => c.notNull().unique())
          .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'));
        if (table === 'pub_imagelist') builder = builder.addColumn('updated', 'text');
        await builder.execute();
      }
      for (const [table, member] of [
        ['pub_imagelist_endorser', 'pub_endorser'],
        ['pub_imagelist_image', 'pub_image'],
      ] as const) {
        await db.schema
          .createTable(table)
          .addColumn('id', t.idType, t.id)
          .addColumn('imagelist_id', 'integer', (c) =>
            c.notNull().references('pub_imagelist.id').onDelete('cascade'),
          )
          .addColumn('member_id', 'integer', (c) =>
            c.notNull().references(`${member}.id`).onDelete('cascade'),
          )
          .addUniqueConstraint(`${table}_unique`, ['imagelist_id', 'member_id'])
          .execute();
        await db.schema.createIndex(`${table}_member`).on(table).column('member_id').execute();
      }

      // Subscriber (vmcatcher).
      await db.schema
        .createTable('sub_endorser')
        .addColumn('id', t.idType, t.id)
        .addColumn('identifier', 'text', (c) => c.notNull().unique())
        .execute();
      await db.schema
        .createTable('sub_principal')
        .addColumn('id', t.idType, t.id)
        .addColumn('endorser_id', 'integer', (c) =>
          c.notNull().references('sub_endorser.id').onDelete('cascade'),
        )
        .addColumn('subject', 'text', (c) => c.notNull().unique())
        .addColumn('issuer', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('sub_subscription')
        .addColumn('id', t.idType, t.id)
        .addColumn('identifier', 'text', (c) => c.notNull().unique())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('uri', 'text', (c) => c.notNull().unique())
        .addColumn('authorised', 'integer', (c) => c.notNull())
        .addColumn('trust_anchor', 'text', (c) => c.notNull().defaultTo('none'))
        .addColumn('update_mode', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('updated', 'text')
        // SQLite accepts a reference to a table created later; PostgreSQL gets the constraint below.
        .addColumn('latest_list_id', 'integer', (c) =>
          t.inlineForwardReferences ? c.references('sub_imagelist.id').onDelete('set null') : c,
        )
        .execute();
      await db.schema
        .createTable('sub_credential')
        .addColumn('subscription_id', 'integer', (c) =>
          c.primaryKey().references('sub_subscription.id').onDelete('cascade'),
        )
        .addColumn('username', 'text')
        .addColumn('password', 'text')
        .execute();
      await db.schema
        .createTable('sub_link')
        .addColumn('id', t.idType, t.id)
        .addColumn('endorser_id', 'integer', (c) =>
          c.notNull().references('sub_endorser.id').onDelete('cascade'),
        )
        .addColumn('subscription_id', 'integer', (c) =>
          c.notNull().references('sub_subscription.id').onDelete('cascade'),
        )
        .addColumn('authorised', 'integer', (c) => c.notNull())
        .addUniqueConstraint('sub_link_unique', ['endorser_id', 'subscription_id'])
        .execute();
      await db.schema
        .createTable('sub_imagelist')
        .addColumn('id', t.idType, t.id)
        .addColumn('subscription_id', 'integer', (c) =>
          c.notNull().references('sub_subscription.id').onDelete('cascade'),
        )
        .addColumn('data', t.blob, (c) => c.notNull())
        .addColumn('data_hash', 'text', (c) => c.notNull())
        .addColumn('imported', 'text', (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('expires', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('expired', 'text')
        .addColumn('signer_subject', 'text', (c) => c.notNull())
        .addColumn('signer_issuer', 'text', (c) => c.notNull())
        .addColumn('metadata', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('sub_imagelist_subscription')
        .on('sub_imagelist')
        .column('subscription_id')
        .execute();
      await db.schema
        .createTable('sub_image_definition')
        .addColumn('id', t.idType, t.id)
        .addColumn('subscription_id', 'integer', (c) =>
          c.notNull().references('sub_subscription.id').onDelete('cascade'),
        )
        .addColumn('identifier', 'text', (c) => c.notNull())
        .addColumn('cache', 'integer', (c) => c.notNull())
        .addColumn('latest_instance_id', 'integer', (c) =>
          t.inlineForwardReferences ? c.references('sub_image_instance.id').onDelete('set null') : c,
        )
        .addUniqueConstraint('sub_image_definition_unique', ['subscription_id', 'identifier'])
        .execute();
      await db.schema
        .createIndex('sub_image_definition_identifier')
        .on('sub_image_definition')
        .column('identifier')
        .execute();
      await db.schema
        .createTable('sub_image_instance')
        .addColumn('id', t.idType, t.id)
        .addColumn('definition_id', 'integer', (c) =>
          c.notNull().references('sub_image_definition.id').onDelete('cascade'),
        )
        .addColumn('imagelist_id', 'integer', (c) =>
          c.notNull().references('sub_imagelist.id').onDelete('cascade'),
        )
        .addColumn('identifier', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('hypervisor', 'text', (c) => c.notNull())
        .addColumn('sha512', 'text', (c) => c.notNull())
        .addColumn('uri', 'text', (c) => c.notNull())
        .addColumn('os', 'text', (c) => c.notNull())
        .addColumn('osversion', 'text', (c) => c.notNull())
        .addColumn('arch', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('size', t.bigint, (c) => c.notNull())
        .addColumn('comments', 'text', (c) => c.notNull())
        .addColumn('format', 'text')
        .addColumn('image', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('sub_image_instance_definition')
        .on('sub_image_instance')
        .column('definition_id')
        .execute();
      await db.schema
        .createIndex('sub_image_instance_imagelist')
        .on('sub_image_instance')
        .columns(['imagelist_id', 'definition_id'])
        .execute();
      if (!t.inlineForwardReferences) {
        await sql`alter table sub_subscription add constraint sub_subscription_latest_fk foreign key (latest_list_id) references sub_imagelist(id) on delete set null`.execute(
          db,
        );
        await sql`alter table sub_image_definition add constraint sub_image_definition_latest_fk foreign key (latest_instance_id) references sub_image_instance(id) on delete set null`.execute(
          db,
        );
      }
    },
  };
}

/** 0.2 of the schema: redelivery queue for failed events, and lookups by image checksum. */
function failedEventsAndChecksums(dialect: MigrationDialect): Migration {
  const t = dialect.ddl;
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('sub_failed_event')
        .addColumn('id', t.idType, t.id)
        .addColumn('recorded', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('error', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(1))
        .execute();
      await db.schema
        .createIndex('sub_image_instance_sha512')
        .on('sub_image_instance')
        .column('sha512')
        .execute();
    },
  };
}

/** 0.3: principals, list signers and publisher endorsers in the one canonical DN spelling (canonicalDn). */
function canonicalDns(log: Logger | undefined): Migration {
  const warn = (message: string) => log?.('warn', message, { name: 'db' });
  return {
    async up(db: AnyDb) {
      // Subscriber principals: subject is unique, so two spellings of one DN collapse into the older row.
      const principals = await db
        .selectFrom('sub_principal as p')
        .innerJoin('sub_endorser as e', 'e.id', 'p.endorser_id')
        .select(['p.id', 'p.subject', 'p.issuer', 'e.identifier'])
        .execute();
      const byId = new Map(principals.map((p) => [Number(p.id), p]));
      const plan = planCanonicalKeys(principals.map((p) => ({ id: Number(p.id), key: String(p.subject) })));
      for (const m of plan.merges) {
        const gone = byId.get(m.id)!;
        const kept = byId.get(m.into)!;
        warn(
          `principal '${m.from}' of endorser '${gone.identifier}' is the same DN as '${kept.subject}' of endorser '${kept.identifier}'; kept the latter, removed the former`,
        );
        await db.deleteFrom('sub_principal').where('id', '=', m.id).execute();
      }
      const subjects = new Map(plan.updates.map((u) => [u.id, u.to]));
      for (const p of principals) {
        if (plan.merges.some((m) => m.id === Number(p.id))) continue;
        const subject = subjects.get(Number(p.id)) ?? String(p.subject);
        const issuer = canonicalDn(String(p.issuer));
        if (subject !== p.subject || issuer !== p.issuer)
          await db.updateTable('sub_principal').set({ subject, issuer }).where('id', '=', p.id).execute();
      }

      // Signers of stored lists (no uniqueness).
      const signers = await db
        .selectFrom('sub_imagelist')
        .select(['signer_subject', 'signer_issuer'])
        .distinct()
        .execute();
      for (const s of signers) {
        const subject = canonicalDn(String(s.signer_subject));
        const issuer = canonicalDn(String(s.signer_issuer));
        if (subject === s.signer_subject && issuer === s.signer_issuer) continue;
        await db
          .updateTable('sub_imagelist')
          .set({ signer_subject: subject, signer_issuer: issuer })
          .where('signer_subject', '=', s.signer_subject)
          .where('signer_issuer', '=', s.signer_issuer)
          .execute();
      }

      // Publisher endorsers: dn is unique; a duplicate's bindings and missing keys move to the older row.
      const endorsers = await db.selectFrom('pub_endorser').select(['id', 'dn', 'metadata']).execute();
      const pubPlan = planCanonicalKeys(endorsers.map((e) => ({ id: Number(e.id), key: String(e.dn) })));
      const meta = new Map(
        endorsers.map((e) => [Number(e.id), JSON.parse(String(e.metadata)) as Record<string, string>]),
      );
      for (const m of pubPlan.merges) {
        warn(`endorser '${m.from}' is the same DN as '${m.to}'; merged into the older row`);
        const bound = await db
          .selectFrom('pub_imagelist_endorser')
          .select('imagelist_id')
          .where('member_id', '=', m.into)
          .execute();
        const have = new Set(bound.map((b) => Number(b.imagelist_id)));
        const moving = await db
          .selectFrom('pub_imagelist_endorser')
          .select('imagelist_id')
          .where('member_id', '=', m.id)
          .orderBy('id')
          .execute();
        for (const b of moving) {
          if (have.has(Number(b.imagelist_id))) continue;
          await db
            .insertInto('pub_imagelist_endorser')
            .values({ imagelist_id: b.imagelist_id, member_id: m.into })
            .execute();
        }
        meta.set(m.into, { ...meta.get(m.id), ...meta.get(m.into) });
        await db.deleteFrom('pub_endorser').where('id', '=', m.id).execute();
        meta.delete(m.id);
      }
      const dns = new Map(pubPlan.updates.map((u) => [u.id, u.to]));
      for (const e of endorsers) {
        const id = Number(e.id);
        if (!meta.has(id)) continue;
        const metadata = canonicalDnMetadata(meta.get(id)!);
        const encoded = encodeMetadata(metadata);
        const dn = dns.get(id) ?? String(e.dn);
        if (dn !== e.dn || encoded !== e.metadata)
          await db.updateTable('pub_endorser').set({ dn, metadata: encoded }).where('id', '=', id).execute();
      }
    },
  };
}

/** 0.4: locks as leases with a heartbeat (store_lock of 0.1 is left, unused). */
function leases(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('store_lease')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('pid', 'integer', (c) => c.notNull())
        .addColumn('acquired', 'text', (c) => c.notNull())
        .addColumn('heartbeat', 'text', (c) => c.notNull())
        .addColumn('expires', 'text', (c) => c.notNull())
        .execute();
    },
  };
}

/**
 * 0.5: a stored list whose endorsement was withdrawn (its signer revoked, expired, no longer trusted or no
 * longer authorised) keeps its row, with when, a stable code and a reason; it makes no image available.
 */
function listWithdrawal(): Migration {
  return {
    async up(db: AnyDb) {
      // One column per statement: SQLite's ALTER TABLE adds one column at a time.
      for (const column of ['withdrawn', 'withdrawn_code', 'withdrawn_reason']) {
        await db.schema.alterTable('sub_imagelist').addColumn(column, 'text').execute();
      }
    },
  };
}

/** 0.6: failed events that exhausted their attempts move to a dead-letter list instead of blocking the queue. */
function failedEventDeadLetters(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable('sub_failed_event').addColumn('dead', 'text').execute();
    },
  };
}

/**
 * 0.7: the history of `vmcatcher_subscribe -U` and `vmcatcher_cache` runs (one row per run, one per subscription
 * or image it dealt with), totals per tool and outcome that survive the history's retention (so Prometheus
 * counters never go down), and a subscription's last attempt, last success and last error (`updated` changes
 * only when a new list is recorded).
 */
function runHistory(dialect: MigrationDialect): Migration {
  const t = dialect.ddl;
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('sub_run')
        .addColumn('id', t.idType, t.id)
        .addColumn('tool', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('pid', 'integer', (c) => c.notNull())
        .addColumn('started', 'text', (c) => c.notNull())
        .addColumn('ended', 'text')
        .addColumn('outcome', 'text')
        .addColumn('exit_status', 'integer')
        .addColumn('counts', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('bytes', t.bigint, (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('sub_run_tool').on('sub_run').columns(['tool', 'id']).execute();
      await db.schema
        .createTable('sub_run_item')
        .addColumn('id', t.idType, t.id)
        .addColumn('run_id', 'integer', (c) => c.notNull().references('sub_run.id').onDelete('cascade'))
        .addColumn('subscription', 'text')
        .addColumn('uri', 'text')
        .addColumn('image', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('code', 'text')
        .addColumn('message', 'text')
        .addColumn('at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sub_run_item_run').on('sub_run_item').column('run_id').execute();
      await db.schema
        .createTable('sub_run_total')
        .addColumn('tool', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('runs', t.bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('bytes', t.bigint, (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('sub_run_total_pk', ['tool', 'outcome'])
        .execute();
      // One column per statement: SQLite's ALTER TABLE adds one column at a time.
      for (const column of [
        'last_attempt',
        'last_success',
        'last_error_at',
        'last_error_code',
        'last_error',
      ]) {
        await db.schema.alterTable('sub_subscription').addColumn(column, 'text').execute();
      }
    },
  };
}

/**
 * 0.8: work claims for many workers on one store (`store.claims`): a row lease per kind and item, taken with
 * FOR UPDATE SKIP LOCKED on PostgreSQL.
 */
function workClaims(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('store_work_claim')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('item', 'text', (c) => c.notNull())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('pid', 'integer', (c) => c.notNull())
        .addColumn('claimed', 'text', (c) => c.notNull())
        .addColumn('expires', 'text', (c) => c.notNull())
        .addColumn('done', 'text')
        .addPrimaryKeyConstraint('store_work_claim_pk', ['kind', 'item'])
        .execute();
      await db.schema.createIndex('store_work_claim_owner').on('store_work_claim').column('owner').execute();
    },
  };
}

/** The store's migrations; `upTo` limits them (used to build a store "made by an older version"). */
export function storeMigrations(
  dialect: MigrationDialect,
  options: { upTo?: string; log?: Logger } = {},
): MigrationProvider {
  const all: Record<string, Migration> = {
    '0001_initial': initial(dialect),
    '0002_failed_events_and_checksums': failedEventsAndChecksums(dialect),
    '0003_canonical_dns': canonicalDns(options.log),
    '0004_leases': leases(),
    '0005_list_withdrawal': listWithdrawal(),
    '0006_failed_event_dead_letters': failedEventDeadLetters(),
    '0007_run_history': runHistory(dialect),
    '0008_work_claims': workClaims(),
  };
  const { upTo } = options;
  return {
    async getMigrations() {
      if (upTo === undefined) return all;
      return Object.fromEntries(Object.entries(all).filter(([name]) => name <= upTo));
    },
  };
}

export const MIGRATION_TABLE = 'store_migration';
export const MIGRATION_LOCK_TABLE = 'store_migration_lock';
