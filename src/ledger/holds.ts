import { sql } from 'kysely'
import { uuidv7 } from 'uuidv7'
import type { Trx } from '../db/database.js'
import { outboxEvent } from '../events/outbox.js'
import type { HoldRow, HoldStatus } from './ledger.tables.js'
import type { FormatAmount, PostingRequest } from './posting-types.js'

/** A hold being settled, and the transaction that records it. */
export interface HoldSettlement {
  hold: Pick<HoldRow, 'id' | 'wallet_id' | 'currency' | 'amount'>
  request: PostingRequest & { id: string }
  capturedAmount?: bigint
}

/** The posting that gives a hold's reserved money back to its wallet (void or expiry). */
export function releaseRequest(
  hold: HoldSettlement['hold'],
  reason: 'voided' | 'expired',
  format: FormatAmount,
): PostingRequest & { id: string } {
  const event = reason === 'voided' ? 'hold.voided' : 'hold.expired'
  return {
    id: uuidv7(),
    type: 'void',
    currency: hold.currency,
    amount: hold.amount,
    legs: [],
    pendingChanges: [{ walletId: hold.wallet_id, delta: -hold.amount }],
    flags: reason === 'expired' ? ['expired'] : [],
    metadata: { holdId: hold.id },
    releaseOnly: true,
    events: (posted) => [
      outboxEvent(
        event,
        { type: 'hold', id: hold.id },
        {
          holdId: hold.id,
          walletId: hold.wallet_id,
          currency: hold.currency,
          released: format(hold.amount, hold.currency),
          transactionId: posted.id,
        },
      ),
    ],
  }
}

/**
 * Claims the overdue pending holds of wallets the caller has locked. SKIP LOCKED: a hold that a
 * capture or void is settling right now is left to it, and waiting for it here could deadlock
 * (those lock the hold first, then the wallet).
 */
export async function claimExpiredHolds(
  trx: Trx,
  walletIds: string[],
  format: FormatAmount,
): Promise<HoldSettlement[]> {
  const { rows } = await sql<Pick<HoldRow, 'id' | 'wallet_id' | 'currency' | 'amount'>>`
    select id, wallet_id, currency, amount from holds
    where wallet_id = any(${walletIds}::uuid[]) and status = 'pending' and expires_at <= statement_timestamp()
    order by id for update skip locked
  `.execute(trx)
  return rows.map((hold) => ({ hold, request: releaseRequest(hold, 'expired', format) }))
}

/** Records how holds ended; each points at the transaction that settled it. */
export async function settleHolds(
  trx: Trx,
  settlements: HoldSettlement[],
  status: Exclude<HoldStatus, 'pending'>,
) {
  if (settlements.length === 0) return
  await sql`
    update holds h set status = ${status}, settled_transaction_id = s.transaction_id,
      captured_amount = s.captured_amount, updated_at = statement_timestamp()
    from unnest(
      ${settlements.map((s) => s.hold.id)}::uuid[],
      ${settlements.map((s) => s.request.id)}::uuid[],
      ${settlements.map((s) => (s.capturedAmount === undefined ? null : s.capturedAmount.toString()))}::numeric[]
    ) as s(id, transaction_id, captured_amount)
    where h.id = s.id and h.status = 'pending'
  `.execute(trx)
}
