import { type Kysely, sql } from 'kysely'

/**
 * Statement jobs and their files. A job's row is its whole state (status, progress, the lease of
 * the worker generating it), so a job a dead worker held is picked up again by another. Files
 * are kept in the database in parts, so every API process can serve any worker's file with no
 * shared disk; they go with their job when its retention ends.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table statement_jobs (
      id uuid primary key,
      -- the principal that asked: a user id, or an API key id
      requester_kind text not null check (requester_kind in ('user', 'api_key')),
      requester_id uuid not null,
      kind text not null check (kind in ('wallet', 'points')),
      -- the wallet, or the point account (null: the user has no point account yet)
      account_id uuid,
      owner_user_id uuid not null,
      currency text not null,
      format text not null check (format in ('json', 'csv', 'pdf')),
      period_from timestamptz not null,
      period_to timestamptz not null,
      time_zone text not null,
      status text not null default 'queued' check (status in ('queued', 'running', 'done', 'failed')),
      lines_done bigint not null default 0,
      lines_total bigint,
      attempts integer not null default 0,
      lease_owner text,
      lease_expires_at timestamptz,
      size_bytes bigint,
      sha256 text,
      fingerprint text,
      error text,
      created_at timestamptz not null default statement_timestamp(),
      started_at timestamptz,
      finished_at timestamptz,
      expires_at timestamptz
    )
  `.execute(db)
  await sql`create index statement_jobs_open on statement_jobs (created_at) where status in ('queued', 'running')`.execute(
    db,
  )
  await sql`create index statement_jobs_requester on statement_jobs (requester_id, created_at desc)`.execute(
    db,
  )
  await sql`create index statement_jobs_expiry on statement_jobs (expires_at) where expires_at is not null`.execute(
    db,
  )
  await sql`
    create table statement_files (
      job_id uuid not null references statement_jobs (id) on delete cascade,
      part integer not null,
      bytes bytea not null,
      primary key (job_id, part)
    )
  `.execute(db)
  // Opening balances of point statements: the last history row before an instant.
  await sql`create index point_history_account_created on point_history (account_id, created_at desc, seq desc)`.execute(
    db,
  )
}
