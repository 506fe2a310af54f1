import { sql } from 'kysely'
import { uuidv7 } from 'uuidv7'
import { loadConfig } from '../src/config.js'
import { type Container, createContainer } from '../src/container.js'
import { callerScope } from '../src/ledger/idempotency-keys.js'
import type { PostingRequest } from '../src/ledger/posting-types.js'
import { systemAccountId } from '../src/ledger/system-accounts.js'
import { createLogger } from '../src/logger.js'
import { HistoryCursors } from '../src/wallets/history-cursor.js'

export const CURRENCY = 'USD'
/** What each wallet is funded with, in cents: enough that no bench transfer meets a floor. */
export const FUNDING_MINOR = 1_000_000n
/** Connections of the seeding container: one per concurrent group-commit batch. */
const SEEDING_POOL = 4
/** Funding deposits waiting at once: more than MAX_BATCH × SEEDING_POOL keeps every batch full. */
const FUNDING_CALLERS = 1_000

/**
 * Coffer's own container, in the bench process, on the bench database: seeding goes through the
 * auth service and the write path's entry point, so the rows are the ones the API would have written.
 */
export async function openContainer(databaseUrl: string): Promise<Container> {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_SIZE: String(SEEDING_POOL),
    LOG_LEVEL: 'warn',
  })
  return createContainer(config, createLogger(config))
}

/** One API key with the service role: a service may move money between any wallets. */
export async function createServiceKey(container: Container): Promise<string> {
  const created = await container.auth.createApiKey({ name: 'bench', roles: ['service'], createdBy: null })
  return created.key
}

/**
 * Inserts the wallets in one statement (ids from Coffer's UUIDv7 generator, one made-up user per
 * wallet: users belong to auth and a service key needs none), then funds each with a deposit
 * posted through the write path's entry point, `container.idempotency.postMovement`, with a key
 * of its own: group commit posts the deposits waiting together in one database transaction
 * (up to MAX_BATCH at a time, a second batch beside it only when a full one waits), as it does for the API.
 */
export async function seedWallets(container: Container, count: number): Promise<string[]> {
  const db = container.database.db
  const ids = Array.from({ length: count }, () => uuidv7())
  const owners = Array.from({ length: count }, () => uuidv7())
  await sql`
    insert into accounts (id, kind, user_id, currency, floor)
    select id, 'wallet', user_id, ${CURRENCY}, 0 from unnest(${ids}::uuid[], ${owners}::uuid[]) as w(id, user_id)
  `.execute(db)

  const scope = callerScope({ kind: 'bench', id: 'seed' })
  const funding = (walletId: string): PostingRequest => ({
    type: 'deposit',
    currency: CURRENCY,
    amount: FUNDING_MINOR,
    legs: [
      {
        account: { system: { name: 'world', currency: CURRENCY } },
        currency: CURRENCY,
        amount: -FUNDING_MINOR,
      },
      { account: { wallet: walletId }, currency: CURRENCY, amount: FUNDING_MINOR },
    ],
    description: 'bench funding',
    events: (posted) => container.wallets.postedEvents(posted),
  })
  const fund = async (walletId: string) => {
    const answer = await container.idempotency.postMovement(
      { scope, key: `funding-${walletId}`, fingerprint: `deposit ${walletId} ${FUNDING_MINOR}` },
      {
        build: async () => funding(walletId),
        render: (posted) => container.wallets.fullTransactionView(posted),
        renderRefusal: (error) => ({ code: error.code, detail: error.detail }),
      },
    )
    if (answer.status !== 201) throw new Error(`funding deposit refused: ${answer.body}`)
  }
  // FUNDING_CALLERS deposits wait at a time, enough to fill every batch, however many wallets.
  let next = 0
  await Promise.all(
    Array.from({ length: FUNDING_CALLERS }, async () => {
      while (next < ids.length) await fund(ids[next++]!)
    }),
  )
  return ids
}

/**
 * Seconds between two deposits of the deep wallet: a year holds 100,000 of them (the statement
 * scenario's one-year statement of 100,000 lines), a million span ten years. History pages do
 * not look at created_at, so history-deep reads the same pages as with any other spacing.
 */
export const DEEP_ENTRY_SPACING_SECONDS = (365 * 86_400) / 100_000

export interface DeepWallet {
  id: string
  entries: number
  /** The cursor of the page that starts halfway down the history. */
  middleCursor: string
}

/**
 * One wallet with `entries` deposits, written by SQL in one database transaction: each deposit is
 * a transaction with the wallet entry (balance_after the running sum, in closed form) and the
 * world entry (balance_after null, as the engine writes it), in that order, so entry seq follows
 * the history. The world side is folded straight into the world account's balance instead of
 * queueing a million system_balance_deltas rows; `coffer verify` sees the same sums either way.
 *
 * Checking the entries' foreign keys row by row costs more than the inserts themselves, so they
 * are dropped for the load and added back, unchanged, in the same transaction: adding a foreign
 * key checks every row in one join.
 */
export async function seedDeepWallet(container: Container, entries: number): Promise<DeepWallet> {
  const db = container.database.db
  const walletId = uuidv7()
  const worldId = systemAccountId({ name: 'world', currency: CURRENCY })
  await db.transaction().execute(async (trx) => {
    await sql`set local work_mem = '256MB'`.execute(trx)
    await sql`
      insert into accounts (id, kind, name, currency) values (${worldId}, 'system', 'world', ${CURRENCY})
      on conflict do nothing
    `.execute(trx)
    await sql`
      insert into accounts (id, kind, user_id, currency, floor) values (${walletId}, 'wallet', ${uuidv7()}, ${CURRENCY}, 0)
    `.execute(trx)
    const { rows: foreignKeys } = await sql<{ name: string; definition: string }>`
      select conname as name, pg_get_constraintdef(oid) as definition
      from pg_constraint where conrelid = 'entries'::regclass and contype = 'f'
    `.execute(trx)
    for (const key of foreignKeys) {
      await sql`alter table entries drop constraint ${sql.id(key.name)}`.execute(trx)
    }
    // Deposit i of 1 + i % 100 dollars, one every DEEP_ENTRY_SPACING_SECONDS up to now (in seq
    // order, as the engine writes them); ids are UUIDv7 of that instant.
    await sql`
      create temp table deep on commit drop as
      select i, created_at, 100 + i % 100 as amount,
        100 * i + 4950 * (i / 100) + (i % 100) * (i % 100 + 1) / 2 as balance_after,
        (lpad(to_hex((extract(epoch from created_at) * 1000)::bigint), 12, '0') || '70008' || lpad(to_hex(i), 15, '0'))::uuid as id
      from (
        select i, date_trunc('second', statement_timestamp()) - make_interval(secs => (${entries} - i) * ${DEEP_ENTRY_SPACING_SECONDS}::float8) as created_at
        from generate_series(1, ${entries}::bigint) as i
      ) g
    `.execute(trx)
    await sql`
      insert into transactions (id, type, currency, amount, description, created_at)
      select id, 'deposit', ${CURRENCY}, amount, 'bench: deep history', created_at from deep order by i
    `.execute(trx)
    await sql`
      insert into entries (transaction_id, account_id, currency, amount, balance_after, created_at)
      select d.id, case when s.side = 1 then ${walletId}::uuid else ${worldId}::uuid end, ${CURRENCY},
        case when s.side = 1 then d.amount else -d.amount end,
        case when s.side = 1 then d.balance_after end, d.created_at
      from deep d cross join (values (1), (2)) as s(side)
      order by d.i, s.side
    `.execute(trx)
    await sql`
      with total as (select sum(amount) as amount from deep)
      update accounts a set balance = a.balance + case when a.id = ${walletId}::uuid then t.amount else -t.amount end,
        updated_at = statement_timestamp()
      from total t where a.id in (${walletId}::uuid, ${worldId}::uuid)
    `.execute(trx)
    for (const key of foreignKeys) {
      await sql`alter table entries add constraint ${sql.id(key.name)} ${sql.raw(key.definition)}`.execute(
        trx,
      )
    }
  })
  const { rows } = await sql<{ seq: bigint }>`
    select seq from entries where account_id = ${walletId}::uuid order by seq desc
    offset ${Math.floor(entries / 2)} limit 1
  `.execute(db)
  const middleSeq = rows[0]?.seq
  if (middleSeq === undefined) throw new Error('the deep wallet has no middle entry')
  // Sealed with the deployment's cursor key, which the served Coffer reads from the same database.
  // The bench checks the page it opens before measuring, so a wrong cursor fails loudly.
  const middleCursor = await new HistoryCursors(db).seal(walletId, middleSeq)
  return { id: walletId, entries, middleCursor }
}

/**
 * Vacuums and analyzes after the bulk load: the planner sees the tables as they now are, and
 * autovacuum, which a million inserted rows would wake, does not run during a measurement.
 */
export async function vacuumAnalyze(container: Container): Promise<void> {
  await sql`vacuum (analyze)`.execute(container.database.db)
}

/**
 * `count` more wallets, each funded with FUNDING_MINOR by one deposit, all written by SQL in one
 * database transaction: the scaling bench's million wallets, which the write path (seedWallets)
 * would take many minutes to fund. The rows are the ones seedWallets leaves (a deposit
 * transaction, the wallet entry with its balance_after, the world entry with none), the world side
 * folded into the world account's balance as seedDeepWallet does; `coffer verify` checks them.
 * The entries' foreign keys are dropped for the load and added back unchanged, as there.
 */
export async function seedFundedWalletsBySql(container: Container, count: number): Promise<string[]> {
  const db = container.database.db
  const worldId = systemAccountId({ name: 'world', currency: CURRENCY })
  return db.transaction().execute(async (trx) => {
    await sql`set local work_mem = '256MB'`.execute(trx)
    await sql`
      insert into accounts (id, kind, name, currency) values (${worldId}, 'system', 'world', ${CURRENCY})
      on conflict do nothing
    `.execute(trx)
    const { rows: foreignKeys } = await sql<{ name: string; definition: string }>`
      select conname as name, pg_get_constraintdef(oid) as definition
      from pg_constraint where conrelid = 'entries'::regclass and contype = 'f'
    `.execute(trx)
    for (const key of foreignKeys) {
      await sql`alter table entries drop constraint ${sql.id(key.name)}`.execute(trx)
    }
    // UUIDv7-shaped ids of this instant, made unique by the row number and a random tail.
    await sql`
      create temp table funded on commit drop as
      select i,
        (lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || '7' ||
          substr(md5(random()::text), 1, 3) || '8' || lpad(to_hex(i), 15, '0'))::uuid as wallet_id,
        gen_random_uuid() as user_id,
        (lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || '7' ||
          substr(md5(random()::text), 1, 3) || '9' || lpad(to_hex(i), 15, '0'))::uuid as tx_id
      from generate_series(1, ${count}::bigint) as i
    `.execute(trx)
    await sql`
      insert into accounts (id, kind, user_id, currency, floor, balance)
      select wallet_id, 'wallet', user_id, ${CURRENCY}, 0, ${FUNDING_MINOR}::numeric from funded order by i
    `.execute(trx)
    await sql`
      insert into transactions (id, type, currency, amount, description, created_at)
      select tx_id, 'deposit', ${CURRENCY}, ${FUNDING_MINOR}::numeric, 'bench funding', statement_timestamp() from funded order by i
    `.execute(trx)
    await sql`
      insert into entries (transaction_id, account_id, currency, amount, balance_after, created_at)
      select f.tx_id, case when s.side = 1 then f.wallet_id else ${worldId}::uuid end, ${CURRENCY},
        case when s.side = 1 then ${FUNDING_MINOR}::numeric else -${FUNDING_MINOR}::numeric end,
        case when s.side = 1 then ${FUNDING_MINOR}::numeric end, statement_timestamp()
      from funded f cross join (values (1), (2)) as s(side)
      order by f.i, s.side
    `.execute(trx)
    await sql`
      update accounts set balance = balance - ${FUNDING_MINOR}::numeric * ${count}::numeric, updated_at = statement_timestamp()
      where id = ${worldId}::uuid
    `.execute(trx)
    for (const key of foreignKeys) {
      await sql`alter table entries add constraint ${sql.id(key.name)} ${sql.raw(key.definition)}`.execute(
        trx,
      )
    }
    const { rows } = await sql<{ id: string }>`select wallet_id as id from funded order by i`.execute(trx)
    return rows.map((r) => r.id)
  })
}
