import { sql } from 'kysely'
import type { Db } from '../db/database.js'
import type { PostingEngine } from './posting-engine.js'

// The worker's side of hold expiry. A movement releases the overdue holds of the wallets it
// locks inside the engine (holds.ts); these find and release the ones nobody touches.

/** Wallets with overdue holds that nobody has touched, for the worker. */
export async function walletsWithExpiredHolds(db: Db, limit: number): Promise<string[]> {
  const { rows } = await sql<{ wallet_id: string }>`
    select distinct wallet_id from (
      select wallet_id from holds
      where status = 'pending' and expires_at <= statement_timestamp()
      order by expires_at limit ${limit}
    ) overdue
  `.execute(db)
  return rows.map((r) => r.wallet_id)
}

/** The worker's sweep: releases overdue holds that no read or movement has released yet. */
export async function releaseOverdueHolds(db: Db, engine: PostingEngine): Promise<number> {
  let released = 0
  // One wallet per transaction: an expiry never waits on more than one wallet's lock.
  for (const walletId of await walletsWithExpiredHolds(db, 500)) {
    released += await engine.changes.transaction(db, (trx) => engine.releaseExpiredHolds(trx, [walletId]))
  }
  return released
}
