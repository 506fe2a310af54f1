import { sql } from 'kysely'
import type { Db, Trx } from '../db/database.js'
import type { HoldRow, HoldStatus } from '../ledger/ledger.tables.js'

/** Reads run on the primary or the replica, writes inside the caller's transaction. */
type Queryable = Db | Trx

const holdColumns = [
  'id',
  'wallet_id',
  'currency',
  'amount',
  'captured_amount',
  'merchant',
  'status',
  'expires_at',
  'description',
  'hold_transaction_id',
  'settled_transaction_id',
  'created_at',
  'updated_at',
] as const

export interface NewHold {
  id: string
  wallet_id: string
  currency: string
  amount: bigint
  merchant: string | null
  expires_at: Date | null
  description: string | null
  hold_transaction_id: string
  created_at: Date
  updated_at: Date
}

export async function insertHold(trx: Trx, hold: NewHold): Promise<HoldRow> {
  const row = await trx.insertInto('holds').values(hold).returning(holdColumns).executeTakeFirstOrThrow()
  return row as HoldRow
}

export async function findHold(db: Queryable, holdId: string): Promise<HoldRow | undefined> {
  return (await db.selectFrom('holds').select(holdColumns).where('id', '=', holdId).executeTakeFirst()) as
    | HoldRow
    | undefined
}

/** A hold just written in this transaction: absent is a bug, so it throws. */
export async function getHold(trx: Trx, holdId: string): Promise<HoldRow> {
  const row = await trx
    .selectFrom('holds')
    .select(holdColumns)
    .where('id', '=', holdId)
    .executeTakeFirstOrThrow()
  return row as HoldRow
}

/** The hold, locked until the transaction ends. */
export async function findHoldForUpdate(trx: Trx, holdId: string): Promise<HoldRow | undefined> {
  return (await trx
    .selectFrom('holds')
    .select(holdColumns)
    .where('id', '=', holdId)
    .forUpdate()
    .executeTakeFirst()) as HoldRow | undefined
}

/** The holds of a wallet, newest first, at most 500. */
export async function listHoldsOfWallet(
  db: Queryable,
  walletId: string,
  status?: HoldStatus,
): Promise<HoldRow[]> {
  let query = db.selectFrom('holds').select(holdColumns).where('wallet_id', '=', walletId)
  if (status) query = query.where('status', '=', status)
  const rows = await query.orderBy('created_at', 'desc').limit(500).execute()
  return rows as HoldRow[]
}

/** The user owning an account, or undefined for an unknown account. */
export async function findAccountOwner(
  trx: Trx,
  accountId: string,
): Promise<{ user_id: string | null } | undefined> {
  return trx.selectFrom('accounts').select('user_id').where('id', '=', accountId).executeTakeFirst()
}

/** The transaction a reversal mirrors, locked so concurrent reversals of it run one after another. */
export async function findTransactionForUpdate(trx: Trx, transactionId: string) {
  return trx
    .selectFrom('transactions')
    .select(['id', 'type', 'currency', 'amount', 'reverses_id'])
    .where('id', '=', transactionId)
    .forUpdate()
    .executeTakeFirst()
}

/** How much of a transaction its reversals already gave back. */
export async function reversedAmount(trx: Trx, transactionId: string): Promise<bigint> {
  const { rows } = await sql<{ reversed: bigint }>`
    select coalesce(sum(amount), 0)::numeric as reversed from transactions where reverses_id = ${transactionId}
  `.execute(trx)
  return rows[0]!.reversed
}

/** A transaction's entries with their account's kind and name, in posting order. */
export async function entriesWithAccounts(trx: Trx, transactionId: string) {
  return trx
    .selectFrom('entries as e')
    .innerJoin('accounts as a', 'a.id', 'e.account_id')
    .select(['e.account_id', 'a.kind', 'a.name', 'e.currency', 'e.amount'])
    .where('e.transaction_id', '=', transactionId)
    .orderBy('e.seq')
    .execute()
}
