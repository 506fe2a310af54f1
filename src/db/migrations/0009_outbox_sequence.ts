import { type Kysely, sql } from 'kysely'

/**
 * Commit order for the relay. Outbox ids are UUIDv7 made in JavaScript before the wallet locks are
 * taken, so two writers of one wallet can commit in the opposite order of their ids. `seq` is
 * drawn inside the insert, after the locks were granted, so for the events of one wallet it
 * follows commit order; the relay publishes by it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table outbox add column seq bigserial`.execute(db)
  await sql`drop index outbox_unpublished`.execute(db)
  await sql`create index outbox_unpublished on outbox (seq) where published_at is null`.execute(db)
  // The purge of published rows past their retention.
  await sql`create index outbox_published on outbox (published_at) where published_at is not null`.execute(db)
}
