import type { ColumnType } from 'kysely'

export type OperationType = 'deposit' | 'withdrawal' | 'transfer' | 'points_earn'
export type OperationStatus = 'accepted' | 'succeeded' | 'failed'

/** The principal a command is applied for, as stored with its operation. */
export interface StoredPrincipal {
  kind: 'user' | 'api_key'
  id: string
  userId: string | null
  roles: ('user' | 'admin' | 'service')[]
}

export interface OperationsTable {
  id: string
  /** `coffer` for POST /api/v1/operations, else the service name that sent the command. */
  sender: string
  /** The idempotency key of the command within its sender: the operationId. */
  operation_key: string
  type: OperationType
  owner_user_id: string | null
  principal: ColumnType<StoredPrincipal, string, never>
  request: ColumnType<Record<string, unknown>, string, never>
  status: ColumnType<OperationStatus, OperationStatus | undefined, OperationStatus>
  transaction_id: ColumnType<string | null, never, string | null>
  result: ColumnType<Record<string, unknown> | null, never, string>
  created_at: ColumnType<Date, Date, never>
  updated_at: ColumnType<Date, Date, Date>
}

export interface OperationsTables {
  operations: OperationsTable
}
