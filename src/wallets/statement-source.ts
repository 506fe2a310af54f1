import { sql } from 'kysely'
import type { Db } from '../db/database.js'
import type {
  StatementHolder,
  StatementLine,
  StatementPeriod,
  StatementSource,
  StatementTypeTotal,
} from '../statements/statement-types.js'

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
  const { rows } = await sql<{ type: string; money_in: string; money_out: string; count: string }>`
    select t.type,
      coalesce(sum(e.amount) filter (where e.amount > 0), 0)::text as money_in,
      coalesce(-sum(e.amount) filter (where e.amount < 0), 0)::text as money_out,
      count(*)::text as count
    from entries e
    join transactions t on t.id = e.transaction_id
    where e.account_id = ${walletId} and e.seq > ${afterSeq.toString()} and e.seq <= ${lastSeq.toString()}
    group by t.type
    order by t.type
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

interface LineRow {
  seq: string
  created_at: Date
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
    select e.seq::text as seq, e.created_at, e.amount::text as amount, e.balance_after::text as balance_after,
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
      let after = opening.seq
      while (after < closing.seq) {
        const rows = await linesBetween(db, subject.walletId, after, closing.seq, chunkSize)
        if (rows.length === 0) return
        after = BigInt(rows[rows.length - 1]!.seq)
        yield rows.map(
          (row): StatementLine => ({
            at: row.created_at,
            type: row.type,
            description: row.description,
            reference: row.reference,
            counterparty: counterpartyOf(row),
            transactionId: row.transaction_id,
            amount: BigInt(row.amount),
            balanceAfter: BigInt(row.balance_after),
          }),
        )
        if (rows.length < chunkSize) return
      }
    },
  }
}
