import type { ColumnType } from 'kysely'

type Timestamp = ColumnType<Date, Date | string, Date | string>

/** The lease of a periodic job that has one runner at a time (src/worker/job-leases.ts). */
export interface WorkerJobLeasesTable {
  name: string
  owner: string
  expires_at: Timestamp
  taken_at: ColumnType<Date, Date | string | undefined, Date | string>
}

export interface WorkerTables {
  worker_job_leases: WorkerJobLeasesTable
}
