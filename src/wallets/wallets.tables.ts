import type { ColumnType } from 'kysely'

export interface HistoryCursorKeysTable {
  id: number
  /** 32 random bytes, base64url. */
  secret: string
  created_at: ColumnType<Date, Date | string | undefined, Date | string>
}

export interface WalletsTables {
  history_cursor_keys: HistoryCursorKeysTable
}
