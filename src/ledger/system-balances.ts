import { sql } from 'kysely'
import type { Db } from '../db/database.js'

const FOLD_BATCH = 10_000

/**
 * Moves queued system-account movements into accounts.balance. Each delta row is deleted and
 * added in the same statement, so it is counted exactly once even with several workers
 * (SKIP LOCKED lets them share the queue). Returns how many deltas were folded.
 */
export async function foldSystemBalances(db: Db): Promise<number> {
  let total = 0
  for (;;) {
    const { rows } = await sql<{ folded: string }>`
      with moved as (
        delete from system_balance_deltas
        where id in (select id from system_balance_deltas order by id limit ${FOLD_BATCH} for update skip locked)
        returning account_id, amount
      ), sums as (
        select account_id, sum(amount) as total, count(*) as n from moved group by account_id
      ), updated as (
        update accounts a set balance = a.balance + sums.total, updated_at = statement_timestamp()
        from sums where a.id = sums.account_id
        returning sums.n
      )
      select coalesce(sum(n), 0)::text as folded from updated
    `.execute(db)
    const folded = Number(rows[0]?.folded ?? 0)
    total += folded
    if (folded < FOLD_BATCH) return total
  }
}
