import { type Kysely, sql } from 'kysely'

/**
 * One row per periodic worker job that must have a single runner across processes: the worker
 * holding the row's lease runs the job. A lease is a row, not a session advisory lock, so it works
 * behind PgBouncer's transaction pooling and outlives no process: a dead holder's lease expires.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table worker_job_leases (
      name text primary key,
      owner text not null,
      expires_at timestamptz not null,
      taken_at timestamptz not null default statement_timestamp()
    )
  `.execute(db)
}
