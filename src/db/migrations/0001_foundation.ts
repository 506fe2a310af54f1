import { type Kysely, sql } from 'kysely'

/**
 * A trigger function for append-only tables (ledger entries, transactions): history is
 * corrected by new rows, never by editing old ones.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function coffer_reject_modification() returns trigger language plpgsql as $$
    begin
      raise exception '% on %.% is not allowed: rows are append-only', tg_op, tg_table_schema, tg_table_name
        using errcode = 'restrict_violation';
    end
    $$
  `.execute(db)
}
