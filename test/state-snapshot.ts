import { sql } from 'kysely'
import type { Db } from '../src/db/database.js'

/** What a refused request must leave as it was: every table's rows, and every account's exact balance. */
export interface StateSnapshot {
  /** Row count and a digest of the rows, per table. */
  tables: Record<string, string>
  /** Exact balance (stored balance plus queued deltas) and pending, per account. */
  balances: Record<string, string>
}

/**
 * Tables whose rows change without any request changing state: the queue of system-balance
 * deltas is folded into `accounts` (exact balances cover it), and a refused money request records
 * its refusal under its Idempotency-Key on purpose, so a retry gets the same answer; only the
 * keys of successful requests are compared.
 */
const COMPARED_SEPARATELY = new Set(['system_balance_deltas', 'idempotency_keys'])

export async function snapshotState(db: Db): Promise<StateSnapshot> {
  const { rows: tableRows } = await sql<{ name: string }>`
    select tablename as name from pg_tables where schemaname = current_schema() order by tablename
  `.execute(db)
  const tables: Record<string, string> = {}
  for (const { name } of tableRows) {
    if (COMPARED_SEPARATELY.has(name)) continue
    const { rows } = await sql<{ count: string; digest: string | null }>`
      select count(*)::text as count, md5(string_agg(t::text, '|' order by t::text)) as digest
      from ${sql.table(name)} as t
    `.execute(db)
    tables[name] = `${rows[0]!.count}:${rows[0]!.digest ?? ''}`
  }
  const { rows: keys } = await sql<{ count: string; digest: string | null }>`
    select count(*)::text as count, md5(string_agg(k::text, '|' order by k::text)) as digest
    from idempotency_keys as k where status_code < 400
  `.execute(db)
  tables['idempotency_keys (successful)'] = `${keys[0]!.count}:${keys[0]!.digest ?? ''}`

  const { rows: accounts } = await sql<{ id: string; exact: string; pending: string; status: string }>`
    select a.id, (a.balance + coalesce((select sum(d.amount) from system_balance_deltas d where d.account_id = a.id), 0))::text as exact,
      a.pending::text as pending, a.status
    from accounts a
  `.execute(db)
  const balances: Record<string, string> = {}
  for (const account of accounts)
    balances[account.id] = `${account.exact}/${account.pending}/${account.status}`
  // Deltas of a system account that has no row yet still count.
  const { rows: orphans } = await sql<{ id: string; total: string }>`
    select account_id as id, sum(amount)::text as total from system_balance_deltas
    where account_id not in (select id from accounts) group by account_id
  `.execute(db)
  for (const orphan of orphans) balances[orphan.id] = `${orphan.total}/0/queued`
  return { tables, balances }
}
