// Versioned schema migrations, applied by kysely's Migrator on open. Never destructive: a migration only
// adds tables, columns and indexes. Names sort in application order.

import { type ColumnDefinitionBuilder, type Migration, type MigrationProvider, sql } from 'kysely';
import type { AnyKysely } from './schema.js';

export type DialectName = 'sqlite' | 'postgres';

type AnyDb = AnyKysely;

function types(dialect: DialectName) {
  const pg = dialect === 'postgres';
  return {
    blob: pg ? ('bytea' as const) : ('blob' as const),
    big: pg ? ('bigint' as const) : ('integer' as const),
    id: (c: ColumnDefinitionBuilder) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()),
    idType: pg ? ('serial' as const) : ('integer' as const),
  };
}

function initial(dialect: DialectName): Migration {
  const t = types(dialect);
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
          dialect === 'sqlite' ? c.references('sub_imagelist.id').onDelete('set null') : c,
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
          dialect === 'sqlite' ? c.references('sub_image_instance.id').onDelete('set null') : c,
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
        .addColumn('size', t.big, (c) => c.notNull())
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
      if (dialect === 'postgres') {
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
function failedEventsAndChecksums(dialect: DialectName): Migration {
  const t = types(dialect);
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

export const MIGRATION_NAMES = ['0001_initial', '0002_failed_events_and_checksums'] as const;

/** The store's migrations; `upTo` limits them (used to build a store "made by an older version"). */
export function storeMigrations(dialect: DialectName, upTo?: string): MigrationProvider {
  const all: Record<string, Migration> = {
    '0001_initial': initial(dialect),
    '0002_failed_events_and_checksums': failedEventsAndChecksums(dialect),
  };
  return {
    async getMigrations() {
      if (upTo === undefined) return all;
      return Object.fromEntries(Object.entries(all).filter(([name]) => name <= upTo));
    },
  };
}

export const MIGRATION_TABLE = 'store_migration';
export const MIGRATION_LOCK_TABLE = 'store_migration_lock';
