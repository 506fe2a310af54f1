import { type Kysely, sql } from 'kysely'

/**
 * Drops the foreign keys from entries and system_balance_deltas to accounts. Each of them made
 * every posting take a KEY SHARE lock on its system account row (`world`, `merchant:*`, `fx`),
 * the one row a large share of all traffic touches: a multixact on a hot row per posting, and a
 * stall of every deposit while anyone held that row FOR UPDATE. The posting engine writes these
 * rows only for accounts it has locked (wallets) or created in the same statement (system
 * accounts, whose ids are derived from their name), and `coffer verify` checks that every entry
 * and delta names an existing account.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table entries drop constraint entries_account_id_fkey`.execute(db)
  await sql`alter table system_balance_deltas drop constraint system_balance_deltas_account_id_fkey`.execute(
    db,
  )
}
