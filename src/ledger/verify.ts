import { sql } from 'kysely'
import type { Db } from '../db/database.js'

export interface Violation {
  check: string
  detail: string
}

interface Check {
  name: string
  description: string
  /** Each returned row is one violation, described by its `detail`. */
  query: (db: Db) => Promise<{ detail: string }[]>
}

const rowsOf = async (db: Db, query: ReturnType<typeof sql<{ detail: string }>>) =>
  (await query.execute(db)).rows

/** The invariants of DESIGN §7, each one SQL query that returns its violations. */
export const LEDGER_CHECKS: Check[] = [
  {
    name: 'currency-sums-to-zero',
    description: 'per currency, the balances of all accounts (with unfolded system deltas) sum to zero',
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('%s: accounts sum to %s', currency, total) as detail from (
            select currency, sum(total) as total from (
              select currency, balance as total from accounts
              union all
              select a.currency, d.amount from system_balance_deltas d join accounts a on a.id = d.account_id
            ) s group by currency
          ) t where total <> 0
        `,
      ),
  },
  {
    name: 'entries-name-accounts',
    description: 'every entry and queued system delta belongs to an existing account',
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('%s of %s names no account %s', what, owner, account_id) as detail from (
            select 'entry' as what, transaction_id::text as owner, account_id from entries
            union all
            select 'delta', id::text, account_id from system_balance_deltas
          ) refs where not exists (select 1 from accounts a where a.id = refs.account_id)
        `,
      ),
  },
  {
    name: 'transactions-balance',
    description: 'the entries of every transaction sum to zero in each currency',
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('transaction %s: %s entries sum to %s', transaction_id, currency, sum(amount)) as detail
          from entries group by transaction_id, currency having sum(amount) <> 0
        `,
      ),
  },
  {
    name: 'transactions-have-entries',
    description:
      'every transaction that moves money has at least two entries; holds, releases and point maturities have none',
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('transaction %s (%s) has %s entries', t.id, t.type, count(e.seq)) as detail
          from transactions t left join entries e on e.transaction_id = t.id
          group by t.id, t.type
          having (t.type in ('hold', 'void', 'points_available') and count(e.seq) <> 0)
            or (t.type not in ('hold', 'void', 'points_available') and count(e.seq) < 2)
        `,
      ),
  },
  {
    name: 'account-balance-equals-entries',
    description: "each account's balance (with unfolded system deltas) equals the sum of its entries",
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('account %s (%s %s): balance %s, entries sum to %s', a.id, coalesce(a.name, 'wallet'), a.currency,
            a.balance + coalesce(d.total, 0), coalesce(e.total, 0)) as detail
          from accounts a
          left join (select account_id, sum(amount) as total from entries group by account_id) e on e.account_id = a.id
          left join (select account_id, sum(amount) as total from system_balance_deltas group by account_id) d
            on d.account_id = a.id
          where a.balance + coalesce(d.total, 0) <> coalesce(e.total, 0)
        `,
      ),
  },
  {
    name: 'wallet-balance-equals-last-balance-after',
    description: "each wallet's balance equals the balance_after of its latest entry",
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('wallet %s: balance %s, last balance_after %s', a.id, a.balance, last.balance_after) as detail
          from accounts a
          left join lateral (
            select balance_after from entries e where e.account_id = a.id order by seq desc limit 1
          ) last on true
          where a.kind = 'wallet' and a.balance <> coalesce(last.balance_after, 0)
        `,
      ),
  },
  {
    name: 'balance-after-chain',
    description: "each wallet entry's balance_after is the previous one plus its amount",
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('wallet %s entry %s: balance_after %s, expected %s', account_id, seq, balance_after,
            coalesce(previous, 0) + amount) as detail
          from (
            select e.account_id, e.seq, e.amount, e.balance_after,
              lag(e.balance_after) over (partition by e.account_id order by e.seq) as previous
            from entries e join accounts a on a.id = e.account_id where a.kind = 'wallet'
          ) chain
          where balance_after is distinct from coalesce(previous, 0) + amount
        `,
      ),
  },
  {
    name: 'available-above-floor',
    description: 'no wallet has an available balance below its floor, unless a forced reversal took it there',
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('wallet %s: available %s below floor %s', a.id, a.balance - a.pending, a.floor) as detail
          from accounts a
          where a.kind = 'wallet' and a.balance - a.pending < a.floor
            and not exists (
              select 1 from entries e join transactions t on t.id = e.transaction_id
              where e.account_id = a.id and 'forced' = any (t.flags)
            )
        `,
      ),
  },
  {
    name: 'system-entries-have-no-balance-after',
    description: 'system accounts are never locked, so their entries carry no running balance',
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('system account %s has entries with balance_after', a.id) as detail
          from accounts a where a.kind = 'system'
            and exists (select 1 from entries e where e.account_id = a.id and e.balance_after is not null)
        `,
      ),
  },
  {
    name: 'pending-equals-pending-holds',
    description:
      "each wallet's pending amount is the sum of its pending holds (a point account's: see point-pending-equals-pending-lots)",
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('wallet %s: pending %s, pending holds sum to %s', a.id, a.pending, coalesce(h.total, 0)) as detail
          from accounts a
          left join (select wallet_id, sum(amount) as total from holds where status = 'pending' group by wallet_id) h
            on h.wallet_id = a.id
          where a.kind = 'wallet' and a.pending <> coalesce(h.total, 0)
            and not exists (select 1 from point_accounts p where p.account_id = a.id)
        `,
      ),
  },
  {
    name: 'holds-settled-once',
    description: 'a hold left pending once, by exactly one transaction that released all of its reserve',
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('hold %s (%s): %s', h.id, h.status, problem) as detail from (
            select h.*, case
              when h.status <> 'pending' and t.id is null then 'no settling transaction'
              when h.status = 'captured' and (t.type <> 'capture' or t.amount <> h.captured_amount) then 'capture does not match'
              when h.status in ('voided', 'expired') and (t.type <> 'void' or t.amount <> h.amount) then 'release does not match'
              when (select count(*) from transactions x where x.reference = h.id::text and x.type = 'capture') > 1
                then 'captured more than once'
            end as problem
            from holds h left join transactions t on t.id = h.settled_transaction_id
          ) h where problem is not null
        `,
      ),
  },
  {
    name: 'reversals-within-original',
    description: 'the reversals of a transaction never add up to more than it, and no reversal is reversed',
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('transaction %s (%s %s): reversed %s', o.id, o.type, o.amount, sum(r.amount)) as detail
          from transactions o join transactions r on r.reverses_id = o.id
          group by o.id, o.type, o.amount
          having sum(r.amount) > o.amount or o.type = 'reversal'
        `,
      ),
  },
  {
    name: 'point-available-equals-available-lots',
    description: "each point account's available points are the remaining points of its available lots",
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('point account %s: available %s, available lots hold %s', a.id, a.balance - a.pending,
            coalesce(l.total, 0)) as detail
          from point_accounts p join accounts a on a.id = p.account_id
          left join (select account_id, sum(remaining) as total from point_lots where status = 'available'
            group by account_id) l on l.account_id = a.id
          where a.balance - a.pending <> coalesce(l.total, 0)
        `,
      ),
  },
  {
    name: 'point-pending-equals-pending-lots',
    description: "each point account's pending points are the remaining points of its lots not yet available",
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('point account %s: pending %s, pending lots hold %s', a.id, a.pending, coalesce(l.total, 0)) as detail
          from point_accounts p join accounts a on a.id = p.account_id
          left join (select account_id, sum(remaining) as total from point_lots where status = 'pending'
            group by account_id) l on l.account_id = a.id
          where a.pending <> coalesce(l.total, 0)
        `,
      ),
  },
  {
    name: 'idempotency-keys-unique',
    description: 'no idempotency key of a caller was recorded (and so applied) twice',
    query: (db) =>
      rowsOf(
        db,
        sql<{ detail: string }>`
          select format('key %s of %s recorded %s times', key, scope, count(*)) as detail
          from idempotency_keys group by scope, key having count(*) > 1
        `,
      ),
  },
]

/** Runs every check in one repeatable-read snapshot, so concurrent writes cannot fake a violation. */
export async function verifyLedger(db: Db, checks: Check[] = LEDGER_CHECKS): Promise<Violation[]> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const violations: Violation[] = []
      for (const check of checks) {
        for (const row of await check.query(trx)) violations.push({ check: check.name, detail: row.detail })
      }
      return violations
    })
}
