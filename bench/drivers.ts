/**
 * `npm run bench:drivers`: node-postgres against postgres.js (issue 15), on the same SQL, in one
 * run, in one process. Each way of talking to PostgreSQL runs the same two loads for `--duration`
 * seconds after `--warmup`, with `--connections` callers at once:
 *
 * - `read`: `select id, balance, status from probe_accounts where id = $1` of a random row, the
 *   shape of GET /wallets/{id} and of a history page's one statement;
 * - `transfer`: `begin`, the two rows `for update` in id order, two `update ... returning`,
 *   `commit`: the statements of a transfer that holds its locks across round trips.
 *
 * The ways: pg's Pool with named statements (what Coffer did before issue 15's lane), pg's Pool
 * plus the pipelined lane for statements on their own (src/db/pipelined-lane.ts, what Coffer does
 * now), and postgres.js with `prepare: true` (it pipelines on its own when every connection is
 * busy), each with the same `--pool` connections for transactions. The figure that matters is
 * this process's CPU per statement or transaction (from /proc), beside PostgreSQL's: on a 2-core
 * machine the driver's CPU is what Coffer cannot spend on HTTP. Kysely is left out: it compiles
 * the same query whichever driver runs it.
 *
 * It creates `coffer_drivers_<timestamp>` on BENCH_DATABASE_URL and drops it at the end.
 */
import { parseArgs } from 'node:util'
import pg from 'pg'
import postgres from 'postgres'
import { createPipelinedLane, type PipelinedLane } from '../src/db/pipelined-lane.js'
import { cpuSnapshot, cpuUse } from './cpu.js'
import { createDatabase, dropDatabase, withClient } from './database.js'

const { values: options } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    pool: { type: 'string', default: '16' },
    lane: { type: 'string', default: '4' },
    rows: { type: 'string', default: '10000' },
  },
})
const DURATION_S = Number(options.duration)
const WARMUP_S = Number(options.warmup)
const CALLERS = Number(options.connections)
const POOL = Number(options.pool)
const LANE = Number(options.lane)
const ROWS = Number(options.rows)
const SERVER_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

const READ = 'select id, balance, status from probe_accounts where id = $1'
const LOCK = 'select id, balance from probe_accounts where id = any($1::int[]) order by id for update'
const DEBIT = 'update probe_accounts set balance = balance - $2 where id = $1 returning balance'
const CREDIT = 'update probe_accounts set balance = balance + $2 where id = $1 returning balance'

interface Way {
  name: string
  read(id: number): Promise<unknown>
  transfer(from: number, to: number, amount: number): Promise<unknown>
  end(): Promise<void>
}

function pgPool(url: string, withLane: boolean): Way {
  const pool = new pg.Pool({ connectionString: url, max: POOL })
  const lane: PipelinedLane | undefined = withLane
    ? createPipelinedLane(LANE, { connectionString: url })
    : undefined
  return {
    name: withLane ? `pg Pool(${POOL}) + pipelined lane(${LANE})` : `pg Pool(${POOL}), named statements`,
    read: (id) =>
      lane
        ? lane.query(READ, [id], 'probe_read')
        : pool.query({ name: 'probe_read', text: READ, values: [id] }),
    async transfer(from, to, amount) {
      const client = await pool.connect()
      try {
        await client.query('begin')
        await client.query({ name: 'probe_lock', text: LOCK, values: [[from, to].sort((a, b) => a - b)] })
        await client.query({ name: 'probe_debit', text: DEBIT, values: [from, amount] })
        await client.query({ name: 'probe_credit', text: CREDIT, values: [to, amount] })
        await client.query('commit')
      } catch (error) {
        await client.query('rollback')
        throw error
      } finally {
        client.release()
      }
    },
    async end() {
      await lane?.end()
      await pool.end()
    },
  }
}

function postgresJs(url: string): Way {
  const sql = postgres(url, { max: POOL, prepare: true, onnotice: () => {} })
  return {
    name: `postgres.js max ${POOL}, prepare: true`,
    read: (id) => sql.unsafe(READ, [id], { prepare: true }),
    transfer: (from, to, amount) =>
      sql.begin(async (trx) => {
        await trx.unsafe(LOCK, [[from, to].sort((a, b) => a - b)], { prepare: true })
        await trx.unsafe(DEBIT, [from, amount], { prepare: true })
        await trx.unsafe(CREDIT, [to, amount], { prepare: true })
      }),
    end: () => sql.end({ timeout: 5 }),
  }
}

const randomRow = () => 1 + Math.floor(Math.random() * ROWS)

async function load(
  work: () => Promise<unknown>,
  seconds: number,
): Promise<{ done: number; failed: number; p99Ms: number }> {
  const stopAt = performance.now() + seconds * 1000
  const latencies: number[] = []
  let failed = 0
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (performance.now() < stopAt) {
        const started = performance.now()
        try {
          await work()
          latencies.push(performance.now() - started)
        } catch {
          failed += 1
        }
      }
    }),
  )
  latencies.sort((a, b) => a - b)
  return { done: latencies.length, failed, p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0 }
}

async function measure(way: Way, kind: 'read' | 'transfer') {
  const work =
    kind === 'read'
      ? () => way.read(randomRow())
      : () => {
          const from = randomRow()
          let to = randomRow()
          while (to === from) to = randomRow()
          return way.transfer(from, to, 1)
        }
  await load(work, WARMUP_S)
  const before = await cpuSnapshot(process.pid)
  const result = await load(work, DURATION_S)
  const after = await cpuSnapshot(process.pid)
  const use = cpuUse(before, after, result.done)
  return {
    way: way.name,
    kind,
    perSecond: Math.round(result.done / DURATION_S),
    p99Ms: Number(result.p99Ms.toFixed(1)),
    failed: result.failed,
    driverCpuMs: use?.cofferCpuMsPerRequest ?? null,
    postgresCores: use?.cores.postgres ?? null,
    otherCores: use ? use.cores.other : null,
  }
}

async function main(): Promise<void> {
  const name = `coffer_drivers_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`
  const url = await createDatabase(SERVER_URL, name)
  try {
    await withClient(url, async (client) => {
      await client.query(
        `create table probe_accounts (id int primary key, balance bigint not null, status text not null)`,
      )
      await client.query(
        `insert into probe_accounts select g, 1000000000, 'active' from generate_series(1, ${ROWS}) g`,
      )
      await client.query('vacuum analyze probe_accounts')
    })
    const rows = []
    for (const make of [() => pgPool(url, false), () => pgPool(url, true), () => postgresJs(url)]) {
      const way = make()
      try {
        for (const kind of ['read', 'transfer'] as const) {
          const row = await measure(way, kind)
          rows.push(row)
          console.log(
            `${row.way.padEnd(44)} ${kind.padEnd(8)} ${String(row.perSecond).padStart(7)}/s  p99 ${String(row.p99Ms).padStart(6)} ms  ` +
              `driver CPU ${row.driverCpuMs?.toFixed(3) ?? '—'} ms each  postgres ${row.postgresCores?.toFixed(2) ?? '—'} cores  ` +
              `other ${row.otherCores?.toFixed(2) ?? '—'}  failed ${row.failed}`,
          )
        }
      } finally {
        await way.end()
      }
    }
    console.log(`\n${CALLERS} callers, ${DURATION_S} s each after ${WARMUP_S} s, ${ROWS} rows, pool ${POOL}`)
    console.log(JSON.stringify(rows))
  } finally {
    await dropDatabase(SERVER_URL, name)
  }
}

await main()
