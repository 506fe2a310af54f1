import { sql } from 'kysely'
import type { Db, Trx } from '../db/database.js'
import { QueryShapes } from '../db/query-shapes.js'

/** Reads run on the primary or the replica, writes inside the caller's transaction. */
type Queryable = Db | Trx

/** The hot reads (a wallet, a history page), compiled once per shape. */
const shapes = new QueryShapes()

export interface WalletRow {
  id: string
  user_id: string
  currency: string
  balance: bigint
  pending: bigint
  status: 'active' | 'frozen' | 'closed'
  /** Raised by every change of the row; the balance cache keeps the newest it was told. */
  version: bigint
  created_at: Date
  updated_at: Date
}

const walletColumns = [
  'id',
  'user_id',
  'currency',
  'balance',
  'pending',
  'status',
  'version',
  'created_at',
  'updated_at',
] as const

export async function insertWalletIfAbsent(
  db: Queryable,
  wallet: { id: string; userId: string; currency: string },
): Promise<WalletRow | null> {
  const { rows } = await sql<WalletRow>`
    insert into accounts (id, kind, user_id, currency, floor)
    values (${wallet.id}, 'wallet', ${wallet.userId}, ${wallet.currency}, 0)
    on conflict (user_id, currency) where kind = 'wallet' do nothing
    returning id, user_id, currency, balance, pending, status, version, created_at, updated_at
  `.execute(db)
  return rows[0] ?? null
}

export async function findWallet(db: Queryable, id: string): Promise<WalletRow | undefined> {
  const row = await db
    .selectFrom('accounts')
    .select(walletColumns)
    .where('id', '=', id)
    .where('kind', '=', 'wallet')
    .executeTakeFirst()
  return row as WalletRow | undefined
}

/** The row's version (raised by every change), as this database has it; undefined if it has no such row. */
export async function walletVersion(db: Queryable, id: string): Promise<bigint | undefined> {
  const row = await db.selectFrom('accounts').select('version').where('id', '=', id).executeTakeFirst()
  return row === undefined ? undefined : BigInt(row.version)
}

export async function findWalletOfUser(
  db: Queryable,
  userId: string,
  currency: string,
): Promise<WalletRow | undefined> {
  const row = await db
    .selectFrom('accounts')
    .select(walletColumns)
    .where('kind', '=', 'wallet')
    .where('user_id', '=', userId)
    .where('currency', '=', currency)
    .executeTakeFirst()
  return row as WalletRow | undefined
}

export async function listWalletsOfUser(db: Queryable, userId: string): Promise<WalletRow[]> {
  const rows = await db
    .selectFrom('accounts')
    .select(walletColumns)
    .where('kind', '=', 'wallet')
    .where('user_id', '=', userId)
    .orderBy('currency')
    .execute()
  return rows as WalletRow[]
}

/** Locks one wallet for a status change; money columns are only ever written by the posting engine. */
export async function lockWalletForStatusChange(trx: Trx, id: string): Promise<WalletRow | undefined> {
  const row = await trx
    .selectFrom('accounts')
    .select(walletColumns)
    .where('id', '=', id)
    .where('kind', '=', 'wallet')
    .forUpdate()
    .executeTakeFirst()
  return row as WalletRow | undefined
}

export async function updateWalletStatus(
  trx: Trx,
  id: string,
  status: WalletRow['status'],
): Promise<WalletRow> {
  const row = await trx
    .updateTable('accounts')
    .set({ status, version: sql<bigint>`version + 1`, updated_at: sql<Date>`statement_timestamp()` })
    .where('id', '=', id)
    .returning(walletColumns)
    .executeTakeFirstOrThrow()
  return row as WalletRow
}

export { insertOutboxEvents } from '../events/outbox.js'

export interface HistoryRow {
  seq: bigint
  amount: bigint
  balance_after: bigint
  created_at: Date
  transaction_id: string
  type: string
  status: string
  reference: string | null
  description: string | null
}

export async function historyPage(
  db: Queryable,
  query: { walletId: string; beforeSeq?: bigint; from?: Date; to?: Date; type?: string; limit: number },
): Promise<HistoryRow[]> {
  // The optional filters make the shape; their values, the wallet and the limit are its slots.
  const filters = { beforeSeq: query.beforeSeq, from: query.from, to: query.to, type: query.type }
  const present = (Object.keys(filters) as (keyof typeof filters)[]).filter(
    (name) => filters[name] !== undefined,
  )
  const compiled = shapes.compiled<HistoryRow>(
    `history ${present.join(' ')}`,
    [query.walletId, query.limit, ...present.map((name) => filters[name])],
    (slot) => {
      const filter = (name: keyof typeof filters) => slot(2 + present.indexOf(name))
      let q = db
        .selectFrom('entries as e')
        .innerJoin('transactions as t', 't.id', 'e.transaction_id')
        .select([
          'e.seq',
          'e.amount',
          'e.balance_after',
          'e.created_at',
          't.id as transaction_id',
          't.type',
          't.status',
          't.reference',
          't.description',
        ])
        .where('e.account_id', '=', slot(0))
      if (present.includes('beforeSeq')) q = q.where('e.seq', '<', filter('beforeSeq'))
      if (present.includes('from')) q = q.where('e.created_at', '>=', filter('from'))
      if (present.includes('to')) q = q.where('e.created_at', '<', filter('to'))
      if (present.includes('type')) q = q.where('t.type', '=', filter('type'))
      return q.orderBy('e.seq', 'desc').limit(slot(1))
    },
  )
  const { rows } = await db.executeQuery(compiled)
  return rows
}

export async function balanceAt(db: Queryable, walletId: string, at: Date): Promise<bigint> {
  const row = await db
    .selectFrom('entries')
    .select('balance_after')
    .where('account_id', '=', walletId)
    .where('created_at', '<=', at)
    .orderBy('created_at', 'desc')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst()
  return row?.balance_after ?? 0n
}

export interface TransactionRow {
  id: string
  type: string
  status: string
  currency: string
  amount: bigint
  reference: string | null
  description: string | null
  metadata: Record<string, unknown> | null
  reverses_id: string | null
  flags: string[]
  created_at: Date
}

export interface TransactionEntryRow {
  account_id: string
  kind: 'wallet' | 'system'
  name: string | null
  user_id: string | null
  currency: string
  amount: bigint
  balance_after: bigint | null
}

export async function findTransaction(
  db: Queryable,
  id: string,
): Promise<
  { transaction: TransactionRow; entries: TransactionEntryRow[]; ownerUserIds: string[] } | undefined
> {
  const transaction = await db.selectFrom('transactions').selectAll().where('id', '=', id).executeTakeFirst()
  if (!transaction) return undefined
  const entries = await db
    .selectFrom('entries as e')
    .innerJoin('accounts as a', 'a.id', 'e.account_id')
    .select(['e.account_id', 'a.kind', 'a.name', 'a.user_id', 'e.currency', 'e.amount', 'e.balance_after'])
    .where('e.transaction_id', '=', id)
    .orderBy('e.seq')
    .execute()
  // Holds and their releases move no money, so their owner is found through the hold.
  const holdOwners = entries.length
    ? []
    : await db
        .selectFrom('holds as h')
        .innerJoin('accounts as a', 'a.id', 'h.wallet_id')
        .select('a.user_id')
        .where((eb) => eb.or([eb('h.hold_transaction_id', '=', id), eb('h.settled_transaction_id', '=', id)]))
        .execute()
  const ownerUserIds = [...entries.map((e) => e.user_id), ...holdOwners.map((h) => h.user_id)].filter(
    (userId): userId is string => userId !== null,
  )
  return {
    transaction: transaction as TransactionRow,
    entries: entries as TransactionEntryRow[],
    ownerUserIds,
  }
}

/** A wallet with what the balance cache needs to know of its holds, read in one snapshot. */
export interface CurrentWalletRow extends WalletRow {
  /** When its first pending hold runs out; null when none of them expires. */
  holds_expire_at: Date | null
  /** Whether a pending hold is already past its expiry (by the database's clock). */
  has_expired_holds: boolean
}

export async function findCurrentWallet(db: Queryable, id: string): Promise<CurrentWalletRow | undefined> {
  const compiled = shapes.compiled<CurrentWalletRow>('current wallet', [id], (slot) =>
    db
      .selectFrom('accounts as a')
      .select(walletColumns.map((column) => `a.${column}` as const))
      .select((eb) => [
        eb
          .selectFrom('holds as h')
          .select((h) => h.fn.min('h.expires_at').as('first'))
          .whereRef('h.wallet_id', '=', 'a.id')
          .where('h.status', '=', 'pending')
          .as('holds_expire_at'),
        eb
          .exists(
            eb
              .selectFrom('holds as h')
              .select('h.id')
              .whereRef('h.wallet_id', '=', 'a.id')
              .where('h.status', '=', 'pending')
              .where('h.expires_at', '<=', sql<Date>`statement_timestamp()`),
          )
          .as('has_expired_holds'),
      ])
      .where('a.id', '=', slot(0))
      .where('a.kind', '=', 'wallet'),
  )
  const { rows } = await db.executeQuery(compiled)
  return rows[0]
}
