import { sql } from 'kysely'
import type { Container } from '../src/container.js'
import { systemAccountId } from '../src/ledger/system-accounts.js'

export const POINT_ASSET = 'PTS'
/** Points of each bench user's lot that never expires: no spend of the run ever runs short. */
export const SPENDABLE_POINTS = 1_000_000_000n
/** Lots per account of the expiry figure: the builder's measurement had five. */
export const EXPIRING_LOTS_PER_ACCOUNT = 5
const EXPIRING_LOT_POINTS = 10

export interface PointUsers {
  /** User ids with a point account: what earn and spend name. */
  userIds: string[]
}

/**
 * Point accounts written by SQL in one database transaction, as the API would have left them:
 * per account a user (without email or password), an accounts row (kind wallet, PTS), its point_accounts row, one points_earn
 * transaction with the account's entry (balance_after its balance) and the issuer's, and its
 * lots: `expiringLots` of EXPIRING_LOT_POINTS that lapsed a day ago (still marked available, so
 * the sweep has them to expire) and, when `spendable` is set, one lot of that many points that
 * never expires. The issuer's side is folded straight into its balance; `coffer verify` sees the
 * same sums, and the lots add up to each account's available points.
 */
export async function seedPointAccounts(
  container: Container,
  options: { accounts: number; expiringLots: number; spendable: bigint | null },
): Promise<PointUsers> {
  const db = container.database.db
  const issuerId = systemAccountId({ name: 'points:issuer', currency: POINT_ASSET })
  const perAccount =
    BigInt(options.expiringLots * EXPIRING_LOT_POINTS) + (options.spendable === null ? 0n : options.spendable)
  const userIds = await db.transaction().execute(async (trx) => {
    await sql`set local work_mem = '256MB'`.execute(trx)
    await sql`
      insert into accounts (id, kind, name, currency) values (${issuerId}, 'system', 'points:issuer', ${POINT_ASSET})
      on conflict do nothing
    `.execute(trx)
    await sql`
      create temp table bench_points on commit drop as
      select i, gen_random_uuid() as account_id, gen_random_uuid() as user_id, gen_random_uuid() as earn_id
      from generate_series(1, ${options.accounts}::int) as i
    `.execute(trx)
    const earnedAt = sql`statement_timestamp() - interval '2 days'`
    // Operators name users that exist: earn and spend by the service key answer 404 for any other.
    await sql`
      insert into users (id, name, roles, created_at)
      select user_id, 'bench points user', '{user}', ${earnedAt} from bench_points order by i
    `.execute(trx)
    await sql`
      insert into accounts (id, kind, user_id, currency, floor, balance, created_at, updated_at)
      select account_id, 'wallet', user_id, ${POINT_ASSET}, 0, ${perAccount.toString()}::numeric, ${earnedAt}, ${earnedAt}
      from bench_points order by i
    `.execute(trx)
    await sql`
      insert into point_accounts (program, user_id, account_id, created_at)
      select 'default', user_id, account_id, ${earnedAt} from bench_points order by i
    `.execute(trx)
    await sql`
      insert into transactions (id, type, currency, amount, description, metadata, created_at)
      select earn_id, 'points_earn', ${POINT_ASSET}, ${perAccount.toString()}::numeric, 'bench: points',
        '{"program":"default"}'::jsonb, ${earnedAt}
      from bench_points order by i
    `.execute(trx)
    await sql`
      insert into entries (transaction_id, account_id, currency, amount, balance_after, created_at)
      select p.earn_id, case when s.side = 1 then p.account_id else ${issuerId}::uuid end, ${POINT_ASSET},
        case when s.side = 1 then ${perAccount.toString()}::numeric else -${perAccount.toString()}::numeric end,
        case when s.side = 1 then ${perAccount.toString()}::numeric end, ${earnedAt}
      from bench_points p cross join (values (1), (2)) as s(side)
      order by p.i, s.side
    `.execute(trx)
    if (options.expiringLots > 0) {
      await sql`
        insert into point_lots (id, account_id, earn_transaction_id, points, remaining, status, available_at,
          expires_at, source, created_at, updated_at)
        select gen_random_uuid(), p.account_id, p.earn_id, ${EXPIRING_LOT_POINTS}, ${EXPIRING_LOT_POINTS}, 'available',
          ${earnedAt}, statement_timestamp() - interval '1 day' + make_interval(secs => l.n), 'bench', ${earnedAt}, ${earnedAt}
        from bench_points p cross join generate_series(1, ${options.expiringLots}::int) as l(n)
        order by p.i, l.n
      `.execute(trx)
    }
    if (options.spendable !== null) {
      await sql`
        insert into point_lots (id, account_id, earn_transaction_id, points, remaining, status, available_at,
          expires_at, source, created_at, updated_at)
        select gen_random_uuid(), account_id, earn_id, ${options.spendable.toString()}::numeric,
          ${options.spendable.toString()}::numeric, 'available', ${earnedAt}, null, 'bench', ${earnedAt}, ${earnedAt}
        from bench_points order by i
      `.execute(trx)
    }
    await sql`
      update accounts set balance = balance - ${(perAccount * BigInt(options.accounts)).toString()}::numeric,
        updated_at = statement_timestamp()
      where id = ${issuerId}::uuid
    `.execute(trx)
    const { rows } = await sql<{ user_id: string }>`select user_id from bench_points order by i`.execute(trx)
    return rows.map((row) => row.user_id)
  })
  return { userIds }
}

/** Lots the sweep still has to expire or mature. */
export async function dueLotCount(container: Container): Promise<number> {
  const { rows } = await sql<{ due: string }>`
    select count(*)::text as due from point_lots
    where (status = 'pending' and available_at <= now())
      or (status = 'available' and remaining > 0 and expires_at <= now())
  `.execute(container.database.db)
  return Number(rows[0]?.due ?? 0)
}

/** Spends per second offered while the sweep runs: a trickle, to see how long one waits. */
const PROBE_SPENDS_PER_SECOND = 50
/** Spending users of the expiry phase: the first of the expiring accounts, so spends meet the sweep's locks. */
const PROBE_USERS = 1000
const EXPIRY_GOAL_SECONDS_PER_MILLION = 60
const SPEND_GOAL_MS = 100

export interface PointsExpiryFigures {
  lots: number
  accounts: number
  seedSeconds: number
  /** From the first batch to none due. */
  seconds: number
  lotsPerSecond: number
  settled: { accounts: number; matured: number; expired: number }
  dueAfter: number
  spends: {
    sent: number
    ok: number
    failed: number
    p50: number | null
    p99: number | null
    max: number | null
  }
  goal: string
  goalMet: boolean
}

function percentileOf(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/**
 * Seeds `lots` lots that lapsed a day ago (EXPIRING_LOTS_PER_ACCOUNT per account; the first
 * PROBE_USERS accounts also hold points that never expire), then runs the worker job's code,
 * `settleDueAccounts`, in this process until nothing is due, while spends of those first accounts
 * go to the served API at a fixed PROBE_SPENDS_PER_SECOND: their latency is how long the sweep
 * made a spend wait.
 */
export async function measurePointsExpiry(
  container: Container,
  options: {
    lots: number
    apiUrl: string
    auth: Record<string, string>
    spendRequest: (userIds: readonly string[]) => {
      path: string
      headers: Record<string, string>
      body: string
    }
    log: (message: string) => void
  },
): Promise<PointsExpiryFigures> {
  const accounts = Math.max(1, Math.ceil(options.lots / EXPIRING_LOTS_PER_ACCOUNT))
  const spenders = Math.min(PROBE_USERS, accounts)
  let began = Date.now()
  const probe = await seedPointAccounts(container, {
    accounts: spenders,
    expiringLots: EXPIRING_LOTS_PER_ACCOUNT,
    spendable: SPENDABLE_POINTS,
  })
  if (accounts > spenders) {
    await seedPointAccounts(container, {
      accounts: accounts - spenders,
      expiringLots: EXPIRING_LOTS_PER_ACCOUNT,
      spendable: null,
    })
  }
  await sql`vacuum (analyze) point_lots, accounts, point_accounts`.execute(container.database.db)
  const seedSeconds = (Date.now() - began) / 1000
  const lots = await dueLotCount(container)
  options.log(
    `points-expiry: seeded ${lots} due lots over ${accounts} accounts in ${seedSeconds.toFixed(1)} s`,
  )

  const latencies: number[] = []
  let sent = 0
  let failed = 0
  let probing = true
  const inFlight = new Set<Promise<void>>()
  const spendOnce = async () => {
    const request = options.spendRequest(probe.userIds)
    const start = performance.now()
    try {
      const response = await fetch(`${options.apiUrl}${request.path}`, {
        method: 'POST',
        headers: { ...request.headers, ...options.auth },
        body: request.body,
      })
      await response.arrayBuffer()
      if (response.status === 201 || response.status === 200) latencies.push(performance.now() - start)
      else failed += 1
    } catch {
      failed += 1
    }
  }
  const prober = (async () => {
    const interval = 1000 / PROBE_SPENDS_PER_SECOND
    const t0 = performance.now()
    while (probing) {
      sent += 1
      const p = spendOnce().finally(() => inFlight.delete(p))
      inFlight.add(p)
      const wait = t0 + sent * interval - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    }
  })()

  began = Date.now()
  const settled = { accounts: 0, matured: 0, expired: 0 }
  // Spends settle their own accounts too; the job runs until none is left due, as the worker's would.
  for (;;) {
    const pass = await container.points.settleDueAccounts()
    settled.accounts += pass.accounts
    settled.matured += pass.matured
    settled.expired += pass.expired
    if ((await dueLotCount(container)) === 0) break
  }
  const seconds = (Date.now() - began) / 1000
  probing = false
  await prober
  await Promise.all(inFlight)
  const sorted = latencies.sort((a, b) => a - b)
  const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10)
  const spends = {
    sent,
    ok: latencies.length,
    failed,
    p50: round(percentileOf(sorted, 50)),
    p99: round(percentileOf(sorted, 99)),
    max: round(sorted.at(-1) ?? null),
  }
  const budget = (EXPIRY_GOAL_SECONDS_PER_MILLION * lots) / 1_000_000
  return {
    lots,
    accounts,
    seedSeconds,
    seconds,
    lotsPerSecond: lots / seconds,
    settled,
    dueAfter: await dueLotCount(container),
    spends,
    goal: `1,000,000 lots in under ${EXPIRY_GOAL_SECONDS_PER_MILLION} s, no spend over ${SPEND_GOAL_MS} ms`,
    goalMet: seconds <= budget && spends.max !== null && spends.max <= SPEND_GOAL_MS && failed === 0,
  }
}
