import type { ColumnType, Generated } from 'kysely'

type Amount = ColumnType<bigint, bigint | string, bigint | string>
type Timestamp = ColumnType<Date, Date | string, Date | string>
type DefaultedAmount = ColumnType<bigint, bigint | string | undefined, bigint | string>
type DefaultedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>

export interface AccountsTable {
  id: string
  kind: 'wallet' | 'system'
  name: string | null
  user_id: string | null
  currency: string
  balance: DefaultedAmount
  pending: DefaultedAmount
  floor: ColumnType<bigint | null, bigint | string | null, bigint | string | null>
  status: Generated<'active' | 'frozen' | 'closed'>
  /** Raised by every change of a wallet row; the balance cache orders its writes by it. */
  version: Generated<bigint>
  created_at: DefaultedTimestamp
  updated_at: DefaultedTimestamp
}

export interface TransactionsTable {
  id: string
  type: string
  status: Generated<string>
  currency: string
  amount: Amount
  reference: string | null
  description: string | null
  metadata: ColumnType<Record<string, unknown> | null, string | null, never>
  reverses_id: string | null
  flags: Generated<string[]>
  created_at: Timestamp
}

export interface EntriesTable {
  seq: Generated<bigint>
  transaction_id: string
  account_id: string
  currency: string
  amount: Amount
  balance_after: ColumnType<bigint | null, bigint | string | null, never>
  created_at: Timestamp
}

export interface SystemBalanceDeltasTable {
  id: Generated<bigint>
  account_id: string
  amount: Amount
}

export interface IdempotencyKeysTable {
  scope: string
  key: string
  fingerprint: string
  status_code: number
  response_body: string
  created_at: DefaultedTimestamp
}

export interface OutboxTable {
  id: string
  type: string
  aggregate_type: string
  aggregate_id: string
  payload: ColumnType<Record<string, unknown>, string, never>
  created_at: DefaultedTimestamp
  published_at: Timestamp | null
}

export type HoldStatus = 'pending' | 'captured' | 'voided' | 'expired'

export interface HoldsTable {
  id: string
  wallet_id: string
  currency: string
  amount: Amount
  captured_amount: ColumnType<bigint | null, bigint | string | null, bigint | string | null>
  merchant: string | null
  status: ColumnType<HoldStatus, string | undefined, string>
  expires_at: ColumnType<Date | null, Date | string | null, Date | string | null>
  description: string | null
  hold_transaction_id: string
  settled_transaction_id: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

/** A row of holds as read back (amounts as bigint). */
export interface HoldRow {
  id: string
  wallet_id: string
  currency: string
  amount: bigint
  captured_amount: bigint | null
  merchant: string | null
  status: HoldStatus
  expires_at: Date | null
  description: string | null
  hold_transaction_id: string
  settled_transaction_id: string | null
  created_at: Date
  updated_at: Date
}

export interface LedgerTables {
  holds: HoldsTable
  accounts: AccountsTable
  transactions: TransactionsTable
  entries: EntriesTable
  system_balance_deltas: SystemBalanceDeltasTable
  idempotency_keys: IdempotencyKeysTable
  outbox: OutboxTable
}
