import { sql } from 'kysely'
import type { Db, Trx } from '../db/database.js'
import type { StatementFormat, StatementKind } from './statement-types.js'
import type { StatementJobStatus } from './statements.tables.js'

type Queryable = Db | Trx

export interface StatementJobRow {
  id: string
  requester_kind: 'user' | 'api_key'
  requester_id: string
  kind: StatementKind
  account_id: string | null
  owner_user_id: string
  currency: string
  format: StatementFormat
  period_from: Date
  period_to: Date
  time_zone: string
  status: StatementJobStatus
  lines_done: bigint
  lines_total: bigint | null
  attempts: number
  lease_owner: string | null
  lease_expires_at: Date | null
  size_bytes: bigint | null
  sha256: string | null
  fingerprint: string | null
  error: string | null
  created_at: Date
  started_at: Date | null
  finished_at: Date | null
  expires_at: Date | null
}

export interface NewStatementJob {
  id: string
  requesterKind: 'user' | 'api_key'
  requesterId: string
  kind: StatementKind
  accountId: string | null
  ownerUserId: string
  currency: string
  format: StatementFormat
  from: Date
  to: Date
  timeZone: string
}

/** Serialises one requester's job creations, so the concurrent-job limit holds under a race. */
export async function lockRequester(trx: Trx, requesterId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`coffer:statements:${requesterId}`}, 0))`.execute(
    trx,
  )
}

export async function countOpenJobs(db: Queryable, requesterId: string): Promise<number> {
  const row = await db
    .selectFrom('statement_jobs')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('requester_id', '=', requesterId)
    .where('status', 'in', ['queued', 'running'])
    .executeTakeFirstOrThrow()
  return Number(row.count)
}

/**
 * A job of the same statement that can answer again: one still being made, or one made after its
 * period ended (nothing can change it since) whose file is still kept.
 */
export async function findReusableJob(db: Queryable, job: Omit<NewStatementJob, 'id' | 'currency'>) {
  let q = db
    .selectFrom('statement_jobs')
    .selectAll()
    .where('requester_id', '=', job.requesterId)
    .where('kind', '=', job.kind)
    .where('owner_user_id', '=', job.ownerUserId)
    .where('format', '=', job.format)
    .where('period_from', '=', job.from)
    .where('period_to', '=', job.to)
    .where('time_zone', '=', job.timeZone)
    .where((eb) =>
      eb.or([
        eb('status', 'in', ['queued', 'running']),
        eb.and([eb('status', '=', 'done'), eb('period_to', '<=', eb.ref('started_at'))]),
      ]),
    )
  q = job.accountId === null ? q.where('account_id', 'is', null) : q.where('account_id', '=', job.accountId)
  const row = await q.orderBy('created_at', 'desc').limit(1).executeTakeFirst()
  return row as StatementJobRow | undefined
}

export async function insertJob(trx: Trx, job: NewStatementJob): Promise<StatementJobRow> {
  const row = await trx
    .insertInto('statement_jobs')
    .values({
      id: job.id,
      requester_kind: job.requesterKind,
      requester_id: job.requesterId,
      kind: job.kind,
      account_id: job.accountId,
      owner_user_id: job.ownerUserId,
      currency: job.currency,
      format: job.format,
      period_from: job.from,
      period_to: job.to,
      time_zone: job.timeZone,
      lines_done: 0,
    })
    .returningAll()
    .executeTakeFirstOrThrow()
  return row as StatementJobRow
}

export async function findJob(db: Queryable, id: string): Promise<StatementJobRow | undefined> {
  const row = await db.selectFrom('statement_jobs').selectAll().where('id', '=', id).executeTakeFirst()
  return row as StatementJobRow | undefined
}

/**
 * Takes the oldest job that is queued, or running under a lease that ran out (its worker died),
 * for `workerId`. SKIP LOCKED: workers polling at once take different jobs.
 */
export async function claimJob(
  db: Db,
  workerId: string,
  leaseMs: number,
): Promise<StatementJobRow | undefined> {
  const { rows } = await sql<StatementJobRow>`
    update statement_jobs j
    set status = 'running', lease_owner = ${workerId},
      lease_expires_at = statement_timestamp() + make_interval(secs => ${leaseMs / 1000}),
      attempts = j.attempts + 1, started_at = statement_timestamp(), lines_done = 0
    where j.id = (
      select id from statement_jobs
      where status = 'queued' or (status = 'running' and lease_expires_at < statement_timestamp())
      order by created_at
      limit 1
      for update skip locked
    )
    returning j.*
  `.execute(db)
  return rows[0]
}

/** Records progress and renews the lease; false when the lease was lost to another worker. */
export async function renewJob(
  db: Db,
  job: { id: string; workerId: string; leaseMs: number; linesDone: number; linesTotal: number },
): Promise<boolean> {
  const { rows } = await sql<{ id: string }>`
    update statement_jobs
    set lines_done = ${job.linesDone}, lines_total = ${job.linesTotal},
      lease_expires_at = statement_timestamp() + make_interval(secs => ${job.leaseMs / 1000})
    where id = ${job.id} and status = 'running' and lease_owner = ${job.workerId}
    returning id
  `.execute(db)
  return rows.length === 1
}

export async function finishJob(
  db: Db,
  job: {
    id: string
    workerId: string
    linesTotal: number
    size: number
    sha256: string
    fingerprint: string
    retentionHours: number
  },
): Promise<boolean> {
  const { rows } = await sql<{ id: string }>`
    update statement_jobs
    set status = 'done', lines_done = ${job.linesTotal}, lines_total = ${job.linesTotal},
      size_bytes = ${job.size}, sha256 = ${job.sha256}, fingerprint = ${job.fingerprint},
      finished_at = statement_timestamp(), lease_owner = null, lease_expires_at = null,
      expires_at = statement_timestamp() + make_interval(hours => ${job.retentionHours})
    where id = ${job.id} and status = 'running' and lease_owner = ${job.workerId}
    returning id
  `.execute(db)
  return rows.length === 1
}

/** A worker that stops hands its job back: queued again, for the next worker to start over. */
export async function releaseJob(db: Db, job: { id: string; workerId: string }): Promise<void> {
  await db
    .updateTable('statement_jobs')
    .set({
      status: 'queued',
      lease_owner: null,
      lease_expires_at: null,
      attempts: sql<number>`greatest(attempts - 1, 0)`,
    })
    .where('id', '=', job.id)
    .where('status', '=', 'running')
    .where('lease_owner', '=', job.workerId)
    .execute()
}

export async function failJob(
  db: Db,
  job: { id: string; workerId: string | null; error: string; retentionHours: number },
): Promise<void> {
  let q = db
    .updateTable('statement_jobs')
    .set({
      status: 'failed',
      error: job.error,
      finished_at: sql<Date>`statement_timestamp()`,
      lease_owner: null,
      lease_expires_at: null,
      expires_at: sql<Date>`statement_timestamp() + make_interval(hours => ${job.retentionHours})`,
    })
    .where('id', '=', job.id)
  if (job.workerId !== null) q = q.where('lease_owner', '=', job.workerId)
  await q.execute()
}

export async function deleteFileParts(db: Db, jobId: string): Promise<void> {
  await db.deleteFrom('statement_files').where('job_id', '=', jobId).execute()
}

export async function insertFilePart(db: Db, jobId: string, part: number, bytes: Uint8Array): Promise<void> {
  await db.insertInto('statement_files').values({ job_id: jobId, part, bytes }).execute()
}

export async function readFilePart(
  db: Queryable,
  jobId: string,
  part: number,
): Promise<Uint8Array | undefined> {
  const row = await db
    .selectFrom('statement_files')
    .select('bytes')
    .where('job_id', '=', jobId)
    .where('part', '=', part)
    .executeTakeFirst()
  return row?.bytes
}

/** Deletes jobs (and, by cascade, their files) whose retention ended. */
export async function purgeExpiredJobs(db: Db): Promise<number> {
  const result = await db
    .deleteFrom('statement_jobs')
    .where('expires_at', '<', sql<Date>`statement_timestamp()`)
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Statement jobs by status, for the operators' overview. */
export interface StatementJobCountsRow {
  queued: number
  running: number
  done: number
  failed: number
  oldest_queued_at: Date | null
}

export async function statementJobCounts(db: Db): Promise<StatementJobCountsRow> {
  // Counts are cast to int: finished jobs are purged after their retention, so the table stays
  // far below 2^31 rows.
  const { rows } = await sql<StatementJobCountsRow>`
    select count(*) filter (where status = 'queued')::int as queued,
      count(*) filter (where status = 'running')::int as running,
      count(*) filter (where status = 'done')::int as done,
      count(*) filter (where status = 'failed')::int as failed,
      min(created_at) filter (where status = 'queued') as oldest_queued_at
    from statement_jobs
  `.execute(db)
  return rows[0]!
}
