import type { ColumnType } from 'kysely'

type DefaultedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>
type Amount = ColumnType<bigint, bigint | string, bigint | string>
/**
 * A rate as the exact decimal text it was given as. Always read it with `rate::text`: the numeric
 * parser would turn a whole-number rate into a bigint.
 */
type RateText = ColumnType<string, string, string>

export interface FxRatesTable {
  base: string
  quote: string
  rate: RateText
  updated_at: DefaultedTimestamp
}

export interface FxQuotesTable {
  id: string
  scope: string
  from_currency: string
  to_currency: string
  rate: RateText
  debited: Amount
  credited: Amount
  created_at: DefaultedTimestamp
  expires_at: ColumnType<Date, Date | string, Date | string>
  used_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  transaction_id: string | null
}

export interface FxTables {
  fx_rates: FxRatesTable
  fx_quotes: FxQuotesTable
}
