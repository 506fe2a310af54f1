import type { ColumnType, Generated } from 'kysely'

type Points = ColumnType<bigint, bigint | string, bigint | string>
type Timestamp = ColumnType<Date, Date | string, Date | string>
type NullableTimestamp = ColumnType<Date | null, Date | string | null, Date | string | null>
type DefaultedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>

export type LotStatus = 'pending' | 'available' | 'expired' | 'reversed'

export interface PointProgramsTable {
  code: string
  asset: string
  name: string
  created_at: DefaultedTimestamp
}

export interface PointAccountsTable {
  program: string
  user_id: string
  account_id: string
  created_at: DefaultedTimestamp
}

export interface PointLotsTable {
  id: string
  account_id: string
  earn_transaction_id: string
  points: Points
  remaining: Points
  status: LotStatus
  available_at: Timestamp
  expires_at: NullableTimestamp
  source: string
  reference: string | null
  purchase_transaction_id: string | null
  clawed_back: ColumnType<bigint, bigint | string | undefined, bigint | string>
  shortfall: ColumnType<bigint, bigint | string | undefined, bigint | string>
  created_at: Timestamp
  updated_at: Timestamp
}

export interface PointDrawsTable {
  transaction_id: string
  lot_id: string
  points: Points
}

export interface PointReversalsTable {
  original_transaction_id: string
  reversal_transaction_id: string | null
  account_id: string
  points: Points
  reason: string
  created_at: Timestamp
}

export interface PointHistoryTable {
  seq: Generated<bigint>
  account_id: string
  transaction_id: string | null
  type: string
  points: Points
  available_change: Points
  total_after: Points
  pending_after: Points
  lot_id: string | null
  expires_at: NullableTimestamp
  source: string | null
  reference: string | null
  description: string | null
  created_at: Timestamp
}

export interface PointRulesTable {
  id: string
  program: string
  position: number
  currency: string
  points_per_unit: Points
  merchant: string | null
  pending_days: number
  expiry_days: number | null
  created_at: DefaultedTimestamp
}

export interface PointsTables {
  point_programs: PointProgramsTable
  point_accounts: PointAccountsTable
  point_lots: PointLotsTable
  point_draws: PointDrawsTable
  point_reversals: PointReversalsTable
  point_history: PointHistoryTable
  point_rules: PointRulesTable
}
