import type { ColumnType } from 'kysely'

type DefaultedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>

/** Operator-defined assets; ISO 4217 currencies are built in and never stored. */
export interface CurrenciesTable {
  code: string
  decimals: number
  name: string
  created_at: DefaultedTimestamp
  updated_at: DefaultedTimestamp
}

export interface CurrenciesTables {
  currencies: CurrenciesTable
}
