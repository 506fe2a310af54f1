import { sql } from 'kysely'
import { expect } from 'vitest'
import type { Db } from '../src/db/database.js'
import { systemAccountId } from '../src/ledger/system-accounts.js'
import { verifyLedger } from '../src/ledger/verify.js'

/** `coffer verify` as an assertion: every invariant of the ledger holds. */
export async function expectLedgerConsistent(db: Db): Promise<void> {
  expect(await verifyLedger(db)).toEqual([])
}

let keyCounter = 0
/** A fresh Idempotency-Key per call. */
export function idempotencyKey(label = 'k'): string {
  keyCounter += 1
  return `${label}-${process.pid}-${Date.now()}-${keyCounter}`
}

/** A system account's exact balance: its folded balance plus the movements still queued. */
export async function systemBalance(db: Db, name: string, currency: string): Promise<bigint> {
  const { rows } = await sql<{ total: bigint | null }>`
    select coalesce((select balance from accounts where id = ${systemAccountId({ name, currency })}), 0)
      + coalesce((select sum(amount) from system_balance_deltas where account_id = ${systemAccountId({ name, currency })}), 0)
      as total
  `.execute(db)
  return rows[0]?.total ?? 0n
}
