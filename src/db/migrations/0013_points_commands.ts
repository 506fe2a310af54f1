import { type Kysely, sql } from 'kysely'

/** `points.earn.requested` on coffer.commands is an operation like the money commands. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table operations drop constraint operations_type_check`.execute(db)
  await sql`
    alter table operations add constraint operations_type_check
    check (type in ('deposit', 'withdrawal', 'transfer', 'points_earn'))
  `.execute(db)
}
