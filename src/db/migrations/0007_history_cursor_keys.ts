import { randomBytes } from 'node:crypto'
import { type Kysely, sql } from 'kysely'

/**
 * The secret that seals history cursors, so a cursor says nothing about the ledger and cannot be
 * forged. One row, made here from Node's CSPRNG, so every process of the deployment reads the same
 * key from its first request and no request ever writes one (a refused request changes nothing).
 * Text (base64url), not bytea, because pg and PGlite hand bytea back as different types.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table history_cursor_keys (
      id smallint primary key check (id = 1),
      secret text not null,
      created_at timestamptz not null default now()
    )
  `.execute(db)
  await sql`
    insert into history_cursor_keys (id, secret) values (1, ${randomBytes(32).toString('base64url')})
  `.execute(db)
}
