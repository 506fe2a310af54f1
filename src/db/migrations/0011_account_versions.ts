import { type Kysely, sql } from 'kysely'

/**
 * A counter per account row, raised by every change of a wallet row (postings, status changes).
 * The balance cache keeps it beside each wallet, so of two write-throughs racing for one wallet
 * the older can never replace the newer, whichever reaches the cache last.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table accounts add column version bigint not null default 0`.execute(db)
}
