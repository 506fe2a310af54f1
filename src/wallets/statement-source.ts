import { sql } from 'kysely'
import type { Db } from '../db/database.js'
import type {
  StatementHolder,
  StatementLine,
  StatementPeriod,
  StatementSource,
  StatementTypeTotal,
} from '../statements/statement-types.js'

/**
 * Lines per query. The next chunk is read while this one renders, so a query's round trip costs
 * nothing; 5,000 measured the same CPU and more worker RSS (two chunks are alive at once).
 */
const DEFAULT_CHUNK = 2000

/** What a wallet statement needs to know of its wallet, found before it is opened. */
export interface WalletStatementSubject {
  walletId: string
  currency: string
  decimals: number
  holder: StatementHolder
}

interface Boundary {
  seq: bigint
  balance: bigint
}

/**
 * The wallet entry that fixes the balance just before `at`: the last by (created_at, seq). Per
 * wallet, seq follows commit order and created_at never goes backwards (the posting engine takes
 * its instant after the wallet lock), so the lines of a period are the seq range between the
 * boundary before `from` and the one before `to`, and opening + lines = closing by construction.
 */
async function boundaryBefore(db: Db, walletId: string, at: Date): Promise<Boundary> {
  const row = await db
    .selectFrom('entries')
    .select(['seq', 'balance_after'])
    .where('account_id', '=', walletId)
    .where('created_at', '<', at)
    .orderBy('created_at', 'desc')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst()
  return row ? { seq: BigInt(row.seq), balance: row.balance_after ?? 0n } : { seq: 0n, balance: 0n }
}

async function totalsBetween(db: Db, walletId: string, afterSeq: bigint, lastSeq: bigint) {
  // Each line's transaction by its primary key (the lateral with `offset 0` keeps the planner from
  // hashing the whole transactions table instead: 0.5 s for a 100,000-line year among a million
  // transactions, and more as the table grows, where the lookups cost what the lines cost). The
  // lookups' estimate passes jit_above_cost, and JIT compiling the plan took longer (0.35 s) than
  // running it, hence JIT off for this one query.
  const { rows } = await db.transaction().execute(async (trx) => {
    await sql`set local jit = off`.execute(trx)
    return sql<{ type: string; money_in: string; money_out: string; count: string }>`
      select t.type,
        coalesce(sum(e.amount) filter (where e.amount > 0), 0)::text as money_in,
        coalesce(-sum(e.amount) filter (where e.amount < 0), 0)::text as money_out,
        count(*)::text as count
      from entries e
      cross join lateral (select t.type from transactions t where t.id = e.transaction_id offset 0) t
      where e.account_id = ${walletId} and e.seq > ${afterSeq.toString()} and e.seq <= ${lastSeq.toString()}
      group by t.type
      order by t.type
    `.execute(trx)
  })
  return rows.map(
    (row): StatementTypeTotal => ({
      type: row.type,
      moneyIn: BigInt(row.money_in),
      moneyOut: BigInt(row.money_out),
      count: Number(row.count),
    }),
  )
}

interface LineRow {
  seq: string
  /** created_at in whole epoch milliseconds: a number costs nothing to read, a timestamptz text is parsed per row. */
  at_ms: number
  amount: string
  balance_after: string
  transaction_id: string
  type: string
  description: string | null
  reference: string | null
  other_kind: 'wallet' | 'system' | null
  other_id: string | null
  other_name: string | null
}

/** Names the other side without revealing anything of it but what the transaction view shows. */
export function counterpartyOf(row: Pick<LineRow, 'other_kind' | 'other_id' | 'other_name'>): string | null {
  if (row.other_kind === 'wallet') return row.other_id
  const name = row.other_name
  if (name === null) return null
  if (name === 'world') return 'external'
  if (name === 'fx') return 'exchange'
  if (name === 'points:issuer') return 'points issuer'
  if (name.startsWith('merchant:')) return name.slice('merchant:'.length)
  return name
}

async function linesBetween(
  db: Db,
  walletId: string,
  afterSeq: bigint,
  lastSeq: bigint,
  limit: number,
): Promise<LineRow[]> {
  // The other party is the first entry of the transaction on another account (transactions are
  // two-legged but for exchanges, whose other wallet leg is the same user's).
  const { rows } = await sql<LineRow>`
    select e.seq::text as seq, floor(extract(epoch from e.created_at) * 1000)::float8 as at_ms, e.amount::text as amount, e.balance_after::text as balance_after,
      t.id as transaction_id, t.type, t.description, t.reference,
      o.kind as other_kind, o.id as other_id, o.name as other_name
    from entries e
    join transactions t on t.id = e.transaction_id
    left join lateral (
      select a.kind, a.id, a.name
      from entries x join accounts a on a.id = x.account_id
      where x.transaction_id = e.transaction_id and x.account_id <> e.account_id
      order by x.seq
      limit 1
    ) o on true
    where e.account_id = ${walletId} and e.seq > ${afterSeq.toString()} and e.seq <= ${lastSeq.toString()}
    order by e.seq
    limit ${limit}
  `.execute(db)
  return rows
}

function lineOf(row: LineRow): StatementLine {
  return {
    at: new Date(row.at_ms),
    type: row.type,
    description: row.description,
    reference: row.reference,
    counterparty: counterpartyOf(row),
    transactionId: row.transaction_id,
    amount: BigInt(row.amount),
    balanceAfter: BigInt(row.balance_after),
  }
}

/** Opens a wallet's statement for a period: its figures now, its lines when read. */
export async function openWalletStatement(
  db: Db,
  subject: WalletStatementSubject,
  period: StatementPeriod,
  now: Date = new Date(),
): Promise<StatementSource> {
  const opening = await boundaryBefore(db, subject.walletId, period.from)
  let closing = await boundaryBefore(db, subject.walletId, period.to)
  // An empty period: its closing boundary is its opening one.
  if (closing.seq <= opening.seq) closing = opening
  const totals =
    closing.seq > opening.seq ? await totalsBetween(db, subject.walletId, opening.seq, closing.seq) : []
  const sum = (pick: (t: StatementTypeTotal) => bigint) => totals.reduce((acc, t) => acc + pick(t), 0n)
  return {
    summary: {
      kind: 'wallet',
      holder: subject.holder,
      accountId: subject.walletId,
      currency: subject.currency,
      decimals: subject.decimals,
      period,
      openingBalance: opening.balance,
      closingBalance: closing.balance,
      moneyIn: sum((t) => t.moneyIn),
      moneyOut: sum((t) => t.moneyOut),
      count: totals.reduce((acc, t) => acc + t.count, 0),
      totals,
      generatedAt: now,
    },
    async *lines(chunkSize = DEFAULT_CHUNK) {
      if (closing.seq <= opening.seq) return
      const fetch = (after: bigint) => {
        const rows = linesBetween(db, subject.walletId, after, closing.seq, chunkSize)
        // Awaited below or in `finally`; until then a failure must not count as unhandled.
        rows.catch(() => {})
        return rows
      }
      // The next chunk is read while the caller renders this one: the database's time and the
      // renderer's overlap instead of adding up.
      let next: Promise<LineRow[]> | undefined = fetch(opening.seq)
      try {
        while (next) {
          const rows: LineRow[] = await next
          next = undefined
          if (rows.length === 0) return
          const after = BigInt(rows[rows.length - 1]!.seq)
          if (rows.length === chunkSize && after < closing.seq) next = fetch(after)
          yield rows.map(lineOf)
        }
      } finally {
        // A caller that stops early leaves no query running behind it.
        await next?.catch(() => {})
      }
    },
  }
}
