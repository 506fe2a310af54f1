import { sql } from 'kysely'
import type { Db, Trx } from '../db/database.js'

type Queryable = Db | Trx

export interface CustomCurrencyRow {
  code: string
  decimals: number
  name: string
}

const columns = ['code', 'decimals', 'name'] as const

export async function listCustomCurrencies(db: Queryable): Promise<CustomCurrencyRow[]> {
  return db.selectFrom('currencies').select(columns).orderBy('code').execute()
}

/**
 * One custom asset; `share` and `update` lock its row, so a change of decimals and the creation of
 * a wallet in that currency cannot interleave (see CurrenciesService).
 */
export async function findCustomCurrency(
  db: Queryable,
  code: string,
  lock?: 'share' | 'update',
): Promise<CustomCurrencyRow | undefined> {
  let query = db.selectFrom('currencies').select(columns).where('code', '=', code)
  if (lock === 'share') query = query.forShare()
  if (lock === 'update') query = query.forUpdate()
  return query.executeTakeFirst()
}

/** Null when the code exists already; waits for a concurrent insert of the same code to finish. */
export async function insertCustomCurrencyIfAbsent(
  trx: Trx,
  row: CustomCurrencyRow,
): Promise<CustomCurrencyRow | null> {
  const inserted = await trx
    .insertInto('currencies')
    .values(row)
    .onConflict((oc) => oc.column('code').doNothing())
    .returning(columns)
    .executeTakeFirst()
  return inserted ?? null
}

export async function updateCustomCurrency(trx: Trx, row: CustomCurrencyRow): Promise<CustomCurrencyRow> {
  return trx
    .updateTable('currencies')
    .set({ decimals: row.decimals, name: row.name, updated_at: sql<Date>`statement_timestamp()` })
    .where('code', '=', row.code)
    .returning(columns)
    .executeTakeFirstOrThrow()
}

/** Any account at all: a wallet, or a system account that a wallet's postings created. */
export async function isCurrencyInUse(trx: Trx, code: string): Promise<boolean> {
  const row = await trx
    .selectFrom('accounts')
    .select('id')
    .where('currency', '=', code)
    .limit(1)
    .executeTakeFirst()
  return row !== undefined
}
