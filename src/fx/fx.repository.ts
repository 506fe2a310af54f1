import { sql } from 'kysely'
import type { Db, Trx } from '../db/database.js'

type Queryable = Db | Trx

export interface FxRateRow {
  base: string
  quote: string
  /** Exact decimal text, as stored. */
  rate: string
  updated_at: Date
}

// numeric comes back as a bigint when it happens to be whole; text keeps every rate a string.
const rateText = sql<string>`rate::text`.as('rate')

export async function listRates(
  db: Queryable,
  filter: { base?: string; quote?: string },
): Promise<FxRateRow[]> {
  let query = db.selectFrom('fx_rates').select(['base', 'quote', rateText, 'updated_at'])
  if (filter.base) query = query.where('base', '=', filter.base)
  if (filter.quote) query = query.where('quote', '=', filter.quote)
  return query.orderBy('base').orderBy('quote').execute()
}

export async function findRate(db: Queryable, base: string, quote: string): Promise<FxRateRow | undefined> {
  return db
    .selectFrom('fx_rates')
    .select(['base', 'quote', rateText, 'updated_at'])
    .where('base', '=', base)
    .where('quote', '=', quote)
    .executeTakeFirst()
}

export async function upsertRate(
  db: Queryable,
  row: { base: string; quote: string; rate: string },
): Promise<FxRateRow & { created: boolean }> {
  const { rows } = await sql<FxRateRow & { created: boolean }>`
    insert into fx_rates (base, quote, rate) values (${row.base}, ${row.quote}, ${row.rate}::numeric)
    on conflict (base, quote) do update set rate = excluded.rate, updated_at = statement_timestamp()
    returning base, quote, rate::text as rate, updated_at, (xmax = 0) as created
  `.execute(db)
  return rows[0]!
}

export interface FxQuoteRow {
  id: string
  scope: string
  from_currency: string
  to_currency: string
  rate: string
  debited: bigint
  credited: bigint
  expires_at: Date
  used_at: Date | null
}

const quoteColumns = [
  'id',
  'scope',
  'from_currency',
  'to_currency',
  rateText,
  'debited',
  'credited',
  'expires_at',
  'used_at',
] as const

/** The expiry comes from the database clock, the one every process shares. */
export async function insertQuote(
  db: Queryable,
  quote: Omit<FxQuoteRow, 'expires_at' | 'used_at'>,
  ttlSeconds: number,
): Promise<FxQuoteRow> {
  return db
    .insertInto('fx_quotes')
    .values({
      id: quote.id,
      scope: quote.scope,
      from_currency: quote.from_currency,
      to_currency: quote.to_currency,
      rate: sql<string>`${quote.rate}::numeric`,
      debited: quote.debited,
      credited: quote.credited,
      expires_at: sql<Date>`statement_timestamp() + make_interval(secs => ${ttlSeconds})`,
    })
    .returning(quoteColumns)
    .executeTakeFirstOrThrow()
}

/** Locks the quote until the exchange commits, so two exchanges cannot both spend it. */
export async function lockQuote(
  trx: Trx,
  id: string,
): Promise<(FxQuoteRow & { expired: boolean }) | undefined> {
  return trx
    .selectFrom('fx_quotes')
    .select([...quoteColumns, sql<boolean>`expires_at <= statement_timestamp()`.as('expired')])
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst()
}

export async function markQuoteUsed(trx: Trx, id: string, transactionId: string): Promise<void> {
  await trx
    .updateTable('fx_quotes')
    .set({ used_at: sql<Date>`statement_timestamp()`, transaction_id: transactionId })
    .where('id', '=', id)
    .execute()
}
