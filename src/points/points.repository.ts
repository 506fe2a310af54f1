import { sql } from 'kysely'
import type { Db, Trx } from '../db/database.js'
import type { LotStatus } from './points.tables.js'

type Queryable = Db | Trx

/** A point account as a writer holds it under its row lock; figures kept current as it posts. */
export interface LockedPointAccount {
  accountId: string
  userId: string
  asset: string
  balance: bigint
  pending: bigint
}

export interface LotRow {
  id: string
  account_id: string
  earn_transaction_id: string
  points: bigint
  remaining: bigint
  status: LotStatus
  available_at: Date
  expires_at: Date | null
  source: string
  reference: string | null
  purchase_transaction_id: string | null
  clawed_back: bigint
  shortfall: bigint
  created_at: Date
}

export interface ProgramRow {
  code: string
  asset: string
  name: string
}

export async function findProgram(db: Queryable, code: string): Promise<ProgramRow | undefined> {
  return db
    .selectFrom('point_programs')
    .select(['code', 'asset', 'name'])
    .where('code', '=', code)
    .executeTakeFirst()
}

export async function listProgramAssets(db: Queryable): Promise<string[]> {
  const rows = await db.selectFrom('point_programs').select('asset').execute()
  return rows.map((row) => row.asset)
}

export async function findAccountId(
  db: Queryable,
  program: string,
  userId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('point_accounts')
    .select('account_id')
    .where('program', '=', program)
    .where('user_id', '=', userId)
    .executeTakeFirst()
  return row?.account_id
}

/**
 * The user's point account, created on first use: an accounts row of kind 'wallet' in the
 * program's asset with a floor of 0, and its point_accounts row. Both inserts tolerate a
 * concurrent creator, who wins; everyone then reads the one row that exists.
 */
export async function ensureAccount(
  trx: Trx,
  account: { id: string; program: string; userId: string; asset: string },
): Promise<string> {
  await sql`
    insert into accounts (id, kind, user_id, currency, floor)
    values (${account.id}, 'wallet', ${account.userId}, ${account.asset}, 0)
    on conflict (user_id, currency) where kind = 'wallet' do nothing
  `.execute(trx)
  const { rows } = await sql<{ id: string }>`
    select id from accounts where kind = 'wallet' and user_id = ${account.userId} and currency = ${account.asset}
  `.execute(trx)
  const accountId = rows[0]!.id
  await sql`
    insert into point_accounts (program, user_id, account_id) values (${account.program}, ${account.userId}, ${accountId})
    on conflict do nothing
  `.execute(trx)
  return accountId
}

/** Locks point accounts in ascending id order (as the posting engine does); `skipLocked` for the sweep. */
export async function lockAccounts(
  trx: Trx,
  accountIds: string[],
  options: { skipLocked?: boolean } = {},
): Promise<LockedPointAccount[]> {
  if (accountIds.length === 0) return []
  const { rows } = await sql<{
    id: string
    user_id: string
    currency: string
    balance: bigint
    pending: bigint
  }>`
    select a.id, a.user_id, a.currency, a.balance, a.pending from accounts a
    where a.id = any(${[...new Set(accountIds)].sort()}::uuid[]) and a.kind = 'wallet'
    order by a.id for update of a ${options.skipLocked ? sql`skip locked` : sql``}
  `.execute(trx)
  return rows.map((row) => ({
    accountId: row.id,
    userId: row.user_id,
    asset: row.currency,
    balance: row.balance,
    pending: row.pending,
  }))
}

export async function readAccount(
  db: Queryable,
  accountId: string,
): Promise<{ balance: bigint; pending: bigint; created_at: Date; updated_at: Date }> {
  return db
    .selectFrom('accounts')
    .select(['balance', 'pending', 'created_at', 'updated_at'])
    .where('id', '=', accountId)
    .executeTakeFirstOrThrow()
}

const lotColumns = sql`id, account_id, earn_transaction_id, points, remaining, status, available_at, expires_at,
  source, reference, purchase_transaction_id, clawed_back, shortfall, created_at`

/** A lot that came due, as it was before `settleDueLots` changed it. */
export interface SettledLot {
  id: string
  account_id: string
  status: LotStatus
  remaining: bigint
  expires_at: Date | null
}

/**
 * Settles, in one statement, the lots of these (locked) accounts that have come due at `now`: a
 * lot past its expiry with points left expires (remaining 0), a pending lot otherwise becomes
 * available. Returns each such lot as it was before, by account and id, for the transactions
 * that record the change; the caller posts them in the same database transaction.
 */
export async function settleDueLots(trx: Trx, accountIds: string[], now: Date): Promise<SettledLot[]> {
  const { rows } = await sql<SettledLot>`
    with due as (
      select id, account_id, status, remaining, expires_at,
        expires_at is not null and expires_at <= ${now} and remaining > 0 as lapses
      from point_lots
      where account_id = any(${accountIds}::uuid[])
        and ((status = 'pending' and (available_at <= ${now} or expires_at <= ${now}))
          or (status = 'available' and remaining > 0 and expires_at <= ${now}))
    ), settled as (
      update point_lots l set
        status = case when d.lapses then 'expired' else 'available' end,
        remaining = case when d.lapses then 0 else l.remaining end,
        updated_at = ${now}
      from due d where l.id = d.id
      returning d.id, d.account_id, d.status, d.remaining, d.expires_at
    )
    select id, account_id, status, remaining, expires_at from settled order by account_id, id
  `.execute(trx)
  return rows
}

/** Whether anything of this account is due at `now`, so a read knows to settle it first. */
export async function hasDueLots(db: Queryable, accountId: string, now: Date): Promise<boolean> {
  const { rows } = await sql<{ due: boolean }>`
    select exists (
      select 1 from point_lots where account_id = ${accountId}
        and ((status = 'pending' and (available_at <= ${now} or expires_at <= ${now}))
          or (status = 'available' and remaining > 0 and expires_at <= ${now}))
    ) as due
  `.execute(db)
  return rows[0]!.due
}

/** Lots scanned per account locked: accounts with several due lots still fill a batch. */
const DUE_LOTS_SCANNED_PER_ACCOUNT = 8

/**
 * The worker's sweep, in one statement: locks up to `limit` accounts with due lots (those of the
 * longest-due lots of each kind), in ascending id order as every writer locks, skipping accounts
 * another transaction holds (a request, which settles them itself).
 */
export async function lockAccountsWithDueLots(
  trx: Trx,
  now: Date,
  limit: number,
): Promise<LockedPointAccount[]> {
  const scanned = limit * DUE_LOTS_SCANNED_PER_ACCOUNT
  const { rows } = await sql<{
    id: string
    user_id: string
    currency: string
    balance: bigint
    pending: bigint
  }>`
    select a.id, a.user_id, a.currency, a.balance, a.pending from accounts a
    where a.kind = 'wallet' and a.id in (
      (select account_id from point_lots where status = 'pending' and available_at <= ${now}
        order by available_at limit ${scanned})
      union all
      (select account_id from point_lots where status = 'available' and remaining > 0 and expires_at is not null
        and expires_at <= ${now} order by expires_at limit ${scanned})
    )
    order by a.id limit ${limit}
    for update of a skip locked
  `.execute(trx)
  return rows.map((row) => ({
    accountId: row.id,
    userId: row.user_id,
    asset: row.currency,
    balance: row.balance,
    pending: row.pending,
  }))
}

/**
 * The lots a spend draws from, in drawing order: the earliest expiry first, lots that never expire
 * last, then the oldest first (ids are UUIDv7, so they sort by creation).
 */
export async function spendableLots(trx: Trx, accountId: string): Promise<LotRow[]> {
  const { rows } = await sql<LotRow>`
    select ${lotColumns} from point_lots
    where account_id = ${accountId} and status = 'available' and remaining > 0
    order by expires_at asc nulls last, id asc
  `.execute(trx)
  return rows
}

export async function openLots(db: Queryable, accountId: string, limit: number): Promise<LotRow[]> {
  const { rows } = await sql<LotRow>`
    select ${lotColumns} from point_lots
    where account_id = ${accountId} and status in ('pending', 'available') and remaining > 0
    order by expires_at asc nulls last, id asc
    limit ${limit}
  `.execute(db)
  return rows
}

export async function expiringSoon(
  db: Queryable,
  accountId: string,
  until: Date,
): Promise<{ points: bigint; next: Date | null }> {
  const { rows } = await sql<{ points: bigint | null; next: Date | null }>`
    select sum(remaining) as points, min(expires_at) as next from point_lots
    where account_id = ${accountId} and status in ('pending', 'available') and remaining > 0
      and expires_at is not null and expires_at <= ${until}
  `.execute(db)
  return { points: rows[0]?.points ?? 0n, next: rows[0]?.next ?? null }
}

export async function insertLot(
  trx: Trx,
  lot: {
    id: string
    accountId: string
    earnTransactionId: string
    points: bigint
    status: 'pending' | 'available'
    availableAt: Date
    expiresAt: Date | null
    source: string
    reference: string | null
    purchaseTransactionId: string | null
    createdAt: Date
  },
): Promise<void> {
  await trx
    .insertInto('point_lots')
    .values({
      id: lot.id,
      account_id: lot.accountId,
      earn_transaction_id: lot.earnTransactionId,
      points: lot.points,
      remaining: lot.points,
      status: lot.status,
      available_at: lot.availableAt,
      expires_at: lot.expiresAt,
      source: lot.source,
      reference: lot.reference,
      purchase_transaction_id: lot.purchaseTransactionId,
      created_at: lot.createdAt,
      updated_at: lot.createdAt,
    })
    .execute()
}

/** Writes the new state of many lots in one statement. */
export async function updateLots(
  trx: Trx,
  lots: { id: string; remaining: bigint; status: LotStatus; clawedBack?: bigint; shortfall?: bigint }[],
  at: Date,
): Promise<void> {
  if (lots.length === 0) return
  await sql`
    update point_lots l set remaining = u.remaining, status = u.status,
      clawed_back = coalesce(u.clawed_back, l.clawed_back), shortfall = coalesce(u.shortfall, l.shortfall),
      updated_at = ${at}
    from unnest(
      ${lots.map((l) => l.id)}::uuid[], ${lots.map((l) => l.remaining.toString())}::numeric[],
      ${lots.map((l) => l.status)}::text[],
      ${lots.map((l) => (l.clawedBack === undefined ? null : l.clawedBack.toString()))}::numeric[],
      ${lots.map((l) => (l.shortfall === undefined ? null : l.shortfall.toString()))}::numeric[]
    ) as u(id, remaining, status, clawed_back, shortfall)
    where l.id = u.id
  `.execute(trx)
}

export async function insertDraws(
  trx: Trx,
  transactionId: string,
  draws: { lotId: string; points: bigint }[],
): Promise<void> {
  if (draws.length === 0) return
  await trx
    .insertInto('point_draws')
    .values(draws.map((d) => ({ transaction_id: transactionId, lot_id: d.lotId, points: d.points })))
    .execute()
}

export async function drawsOf(trx: Trx, transactionId: string): Promise<{ draw: bigint; lot: LotRow }[]> {
  const { rows } = await sql<LotRow & { draw: bigint }>`
    select d.points as draw, ${sql.raw(
      'l.id, l.account_id, l.earn_transaction_id, l.points, l.remaining, l.status, l.available_at, l.expires_at, l.source, l.reference, l.purchase_transaction_id, l.clawed_back, l.shortfall, l.created_at',
    )}
    from point_draws d join point_lots l on l.id = d.lot_id
    where d.transaction_id = ${transactionId} order by l.id
  `.execute(trx)
  return rows.map(({ draw, ...lot }) => ({ draw, lot }))
}

export async function lotOfEarn(trx: Trx, transactionId: string): Promise<LotRow | undefined> {
  const { rows } = await sql<LotRow>`
    select ${lotColumns} from point_lots where earn_transaction_id = ${transactionId}
  `.execute(trx)
  return rows[0]
}

export async function lotsOfPurchase(trx: Trx, purchaseTransactionId: string): Promise<LotRow[]> {
  const { rows } = await sql<LotRow>`
    select ${lotColumns} from point_lots where purchase_transaction_id = ${purchaseTransactionId} order by id
  `.execute(trx)
  return rows
}

/** A points transaction with the point account it moved (or, for a maturity, released). */
export async function findPointTransaction(
  db: Queryable,
  transactionId: string,
): Promise<{ id: string; type: string; amount: bigint; account_id: string; user_id: string } | undefined> {
  const { rows } = await sql<{
    id: string
    type: string
    amount: bigint
    account_id: string
    user_id: string
  }>`
    select t.id, t.type, t.amount, p.account_id, p.user_id
    from transactions t
    join lateral (
      select h.account_id from point_history h where h.transaction_id = t.id limit 1
    ) h on true
    join point_accounts p on p.account_id = h.account_id
    where t.id = ${transactionId}
  `.execute(db)
  return rows[0]
}

export async function isReversed(trx: Trx, transactionId: string): Promise<boolean> {
  const row = await trx
    .selectFrom('point_reversals')
    .select('original_transaction_id')
    .where('original_transaction_id', '=', transactionId)
    .executeTakeFirst()
  return row !== undefined
}

export async function insertReversal(
  trx: Trx,
  reversal: {
    originalTransactionId: string
    reversalTransactionId: string | null
    accountId: string
    points: bigint
    reason: string
    createdAt: Date
  },
): Promise<void> {
  await trx
    .insertInto('point_reversals')
    .values({
      original_transaction_id: reversal.originalTransactionId,
      reversal_transaction_id: reversal.reversalTransactionId,
      account_id: reversal.accountId,
      points: reversal.points,
      reason: reversal.reason,
      created_at: reversal.createdAt,
    })
    .execute()
}

export interface HistoryInsert {
  accountId: string
  transactionId: string | null
  type: string
  points: bigint
  availableChange: bigint
  totalAfter: bigint
  pendingAfter: bigint
  lotId: string | null
  expiresAt: Date | null
  source: string | null
  reference: string | null
  description: string | null
  createdAt: Date
}

export async function insertHistory(trx: Trx, rows: HistoryInsert[]): Promise<void> {
  if (rows.length === 0) return
  await trx
    .insertInto('point_history')
    .values(
      rows.map((r) => ({
        account_id: r.accountId,
        transaction_id: r.transactionId,
        type: r.type,
        points: r.points,
        available_change: r.availableChange,
        total_after: r.totalAfter,
        pending_after: r.pendingAfter,
        lot_id: r.lotId,
        expires_at: r.expiresAt,
        source: r.source,
        reference: r.reference,
        description: r.description,
        created_at: r.createdAt,
      })),
    )
    .execute()
}

export interface HistoryRow {
  seq: bigint
  transaction_id: string | null
  type: string
  points: bigint
  available_change: bigint
  total_after: bigint
  pending_after: bigint
  lot_id: string | null
  expires_at: Date | null
  source: string | null
  reference: string | null
  description: string | null
  created_at: Date
}

export async function historyPage(
  db: Queryable,
  query: { accountId: string; beforeSeq?: bigint; type?: string; limit: number },
): Promise<HistoryRow[]> {
  let q = db
    .selectFrom('point_history')
    .select([
      'seq',
      'transaction_id',
      'type',
      'points',
      'available_change',
      'total_after',
      'pending_after',
      'lot_id',
      'expires_at',
      'source',
      'reference',
      'description',
      'created_at',
    ])
    .where('account_id', '=', query.accountId)
  if (query.beforeSeq !== undefined) q = q.where('seq', '<', query.beforeSeq)
  if (query.type) q = q.where('type', '=', query.type)
  return q.orderBy('seq', 'desc').limit(query.limit).execute()
}

export { insertOutboxEvents } from '../events/outbox.js'

export interface RuleRow {
  id: string
  position: number
  currency: string
  points_per_unit: bigint
  merchant: string | null
  pending_days: number
  expiry_days: number | null
}

export async function listRules(db: Queryable, program: string): Promise<RuleRow[]> {
  return db
    .selectFrom('point_rules')
    .select(['id', 'position', 'currency', 'points_per_unit', 'merchant', 'pending_days', 'expiry_days'])
    .where('program', '=', program)
    .orderBy('position')
    .execute()
}

export async function replaceRules(
  trx: Trx,
  program: string,
  rules: Omit<RuleRow, 'position'>[],
): Promise<void> {
  await trx.deleteFrom('point_rules').where('program', '=', program).execute()
  if (rules.length === 0) return
  await trx
    .insertInto('point_rules')
    .values(
      rules.map((rule, position) => ({
        id: rule.id,
        program,
        position,
        currency: rule.currency,
        points_per_unit: rule.points_per_unit,
        merchant: rule.merchant,
        pending_days: rule.pending_days,
        expiry_days: rule.expiry_days,
      })),
    )
    .execute()
}
