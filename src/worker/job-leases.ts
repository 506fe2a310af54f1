import { hostname } from 'node:os'
import { sql } from 'kysely'
import { uuidv7 } from 'uuidv7'
import type { Db } from '../db/database.js'

/**
 * Leases that give a periodic job one runner at a time across worker processes: the worker whose
 * row in worker_job_leases has not expired runs the job, the others wait for the row to lapse.
 *
 * Each take or renewal is one autocommit statement and all times are the database's clock, so
 * nothing depends on a session (PgBouncer's transaction pooling may hand every statement to
 * another server connection, which would lose a session advisory lock) or on the workers' clocks
 * agreeing.
 */
export interface JobLeases {
  /** This holder's name in the table: host, pid and a random part, so logs can tell who runs a job. */
  readonly owner: string
  /** Takes the lease when it is free or expired, or renews it when this owner holds it. */
  take(job: string, leaseMs: number): Promise<boolean>
  /** Gives the leases up (a clean stop), so another worker takes the jobs over at once. */
  release(jobs: string[]): Promise<void>
}

export function createJobLeases(
  db: Db,
  owner = `${hostname()}:${process.pid}:${uuidv7().slice(-12)}`,
): JobLeases {
  return {
    owner,
    async take(job, leaseMs) {
      const { rows } = await sql<{ owner: string }>`
        insert into worker_job_leases as lease (name, owner, expires_at)
        values (${job}, ${owner}, statement_timestamp() + ${leaseMs}::integer * interval '1 millisecond')
        on conflict (name) do update
          set owner = excluded.owner,
              expires_at = excluded.expires_at,
              taken_at = case when lease.owner = excluded.owner then lease.taken_at else statement_timestamp() end
          where lease.owner = excluded.owner or lease.expires_at < statement_timestamp()
        returning owner
      `.execute(db)
      return rows.length === 1
    },
    async release(jobs) {
      if (jobs.length === 0) return
      await db.deleteFrom('worker_job_leases').where('owner', '=', owner).where('name', 'in', jobs).execute()
    },
  }
}

/** A job's lease as the operators' overview lists it. */
export interface JobLeaseRow {
  name: string
  owner: string
  expires_at: Date
  taken_at: Date
  /** Not expired by the database's clock, the one the leases are taken by. */
  active: boolean
}

export async function listJobLeases(db: Db): Promise<JobLeaseRow[]> {
  const { rows } = await sql<JobLeaseRow>`
    select name, owner, expires_at, taken_at, expires_at > statement_timestamp() as active
    from worker_job_leases order by name
  `.execute(db)
  return rows
}

const LEASE_MIN_MS = 10_000
const LEASE_MAX_MS = 60_000

/**
 * How long a job's lease lasts without renewal, which bounds how long a dead worker's job waits
 * for another: three intervals (a holder slow for one or two runs keeps it), at least 10 s (a
 * 1-second job does not change hands on one slow statement) and at most 60 s.
 */
export function leaseMsFor(intervalMs: number): number {
  return Math.min(LEASE_MAX_MS, Math.max(LEASE_MIN_MS, 3 * intervalMs))
}
