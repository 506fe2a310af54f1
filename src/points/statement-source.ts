import { sql } from 'kysely'
import type { Db } from '../db/database.js'
import type {
  StatementHolder,
  StatementLine,
  StatementPeriod,
  StatementSource,
  StatementTypeTotal,
} from '../statements/statement-types.js'

/** Lines per query, as for wallets (the next chunk is read while this one renders). */
const DEFAULT_CHUNK = 2000

export interface PointsStatementSubject {
  /** Null when the user never had a point account: an empty statement at zero. */
  accountId: string | null
  asset: string
  holder: StatementHolder
}

interface Boundary {
  seq: bigint
  total: bigint
}

/**
 * A point statement reads the points history (point_history), whose rows are written with the
 * posting engine's transactions under the account lock: `total_after` is the account's
 * balance_after (pending points included), and per account seq follows commit order, so the
 * lines of a period are a seq range, as for wallets. Maturities (pending points becoming
 * available) are lines of 0 points: they change what may be spent, not the total.
 */
async function boundaryBefore(db: Db, accountId: string, at: Date): Promise<Boundary> {
  const row = await db
    .selectFrom('point_history')
    .select(['seq', 'total_after'])
    .where('account_id', '=', accountId)
    .where('created_at', '<', at)
    .orderBy('created_at', 'desc')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst()
  return row ? { seq: BigInt(row.seq), total: BigInt(row.total_after) } : { seq: 0n, total: 0n }
}

async function totalsBetween(db: Db, accountId: string, afterSeq: bigint, lastSeq: bigint) {
  const { rows } = await sql<{ type: string; money_in: string; money_out: string; count: string }>`
    select type,
      coalesce(sum(points) filter (where points > 0), 0)::text as money_in,
      coalesce(-sum(points) filter (where points < 0), 0)::text as money_out,
      count(*)::text as count
    from point_history
    where account_id = ${accountId} and seq > ${afterSeq.toString()} and seq <= ${lastSeq.toString()}
    group by type
    order by type
  `.execute(db)
  return rows.map(
    (row): StatementTypeTotal => ({
      type: row.type,
      moneyIn: BigInt(row.money_in),
      moneyOut: BigInt(row.money_out),
      count: Number(row.count),
    }),
  )
}

function linesBetween(db: Db, accountId: string, afterSeq: bigint, lastSeq: bigint, limit: number) {
  return db
    .selectFrom('point_history')
    .select([
      'seq',
      // Whole epoch milliseconds: a number costs nothing to read, a timestamptz text is parsed per row.
      sql<number>`floor(extract(epoch from created_at) * 1000)::float8`.as('at_ms'),
      'type',
      'points',
      'total_after',
      'transaction_id',
      'source',
      'reference',
      'description',
    ])
    .where('account_id', '=', accountId)
    .where('seq', '>', afterSeq)
    .where('seq', '<=', lastSeq)
    .orderBy('seq')
    .limit(limit)
    .execute()
}

type HistoryRow = Awaited<ReturnType<typeof linesBetween>>[number]

function lineOf(row: HistoryRow): StatementLine {
  return {
    at: new Date(row.at_ms),
    type: row.type,
    description: row.description,
    reference: row.reference,
    counterparty: row.source,
    transactionId: row.transaction_id,
    amount: BigInt(row.points),
    balanceAfter: BigInt(row.total_after),
  }
}

export async function openPointsStatement(
  db: Db,
  subject: PointsStatementSubject,
  period: StatementPeriod,
  now: Date = new Date(),
): Promise<StatementSource> {
  const { accountId } = subject
  const empty: Boundary = { seq: 0n, total: 0n }
  const opening = accountId ? await boundaryBefore(db, accountId, period.from) : empty
  let closing = accountId ? await boundaryBefore(db, accountId, period.to) : empty
  if (closing.seq <= opening.seq) closing = opening
  const totals =
    accountId && closing.seq > opening.seq ? await totalsBetween(db, accountId, opening.seq, closing.seq) : []
  const sum = (pick: (t: StatementTypeTotal) => bigint) => totals.reduce((acc, t) => acc + pick(t), 0n)
  return {
    summary: {
      kind: 'points',
      holder: subject.holder,
      accountId,
      currency: subject.asset,
      decimals: 0,
      period,
      openingBalance: opening.total,
      closingBalance: closing.total,
      moneyIn: sum((t) => t.moneyIn),
      moneyOut: sum((t) => t.moneyOut),
      count: totals.reduce((acc, t) => acc + t.count, 0),
      totals,
      generatedAt: now,
    },
    async *lines(chunkSize = DEFAULT_CHUNK) {
      if (!accountId || closing.seq <= opening.seq) return
      const fetch = (after: bigint) => {
        const rows = linesBetween(db, accountId, after, closing.seq, chunkSize)
        // Awaited below or in `finally`; until then a failure must not count as unhandled.
        rows.catch(() => {})
        return rows
      }
      // The next chunk is read while the caller renders this one (see the wallet source).
      let next: Promise<HistoryRow[]> | undefined = fetch(opening.seq)
      try {
        while (next) {
          const rows: HistoryRow[] = await next
          next = undefined
          if (rows.length === 0) return
          const after = BigInt(rows[rows.length - 1]!.seq)
          if (rows.length === chunkSize && after < closing.seq) next = fetch(after)
          yield rows.map(lineOf)
        }
      } finally {
        await next?.catch(() => {})
      }
    },
  }
}
