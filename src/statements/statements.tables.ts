import type { ColumnType } from 'kysely'

type Timestamp = ColumnType<Date, Date | string, Date | string>
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
type Count = ColumnType<bigint, bigint | number | string | undefined, bigint | number | string>

export type StatementJobStatus = 'queued' | 'running' | 'done' | 'failed'

export interface StatementJobsTable {
  id: string
  requester_kind: 'user' | 'api_key'
  requester_id: string
  kind: 'wallet' | 'points'
  account_id: string | null
  owner_user_id: string
  currency: string
  format: 'json' | 'csv' | 'pdf'
  period_from: Timestamp
  period_to: Timestamp
  time_zone: string
  status: ColumnType<StatementJobStatus, StatementJobStatus | undefined, StatementJobStatus>
  lines_done: Count
  lines_total: ColumnType<bigint | null, bigint | number | null | undefined, bigint | number | null>
  attempts: ColumnType<number, number | undefined, number>
  lease_owner: string | null
  lease_expires_at: NullableTimestamp
  size_bytes: ColumnType<bigint | null, bigint | number | null | undefined, bigint | number | null>
  sha256: string | null
  fingerprint: string | null
  error: string | null
  created_at: ColumnType<Date, Date | string | undefined, Date | string>
  started_at: NullableTimestamp
  finished_at: NullableTimestamp
  expires_at: NullableTimestamp
}

export interface StatementFilesTable {
  job_id: string
  part: number
  bytes: Uint8Array
}

export interface StatementsTables {
  statement_jobs: StatementJobsTable
  statement_files: StatementFilesTable
}
