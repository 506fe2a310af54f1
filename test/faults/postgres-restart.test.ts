import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import {
  acknowledged,
  cofferEnv,
  type Ledger,
  Load,
  nextMovement,
  prepareLedger,
  reportSummary,
  send,
} from './support/api.js'
import { checkExactlyOnce } from './support/checks.js'
import {
  type CofferProcess,
  runCli,
  startCoffer,
  startThrowawayPostgres,
  type ThrowawayPostgres,
  until,
} from './support/processes.js'

/**
 * PostgreSQL restarted five times in a row under steady writes, against `coffer start` as an
 * operator runs it (the built CLI, as a child process). Issue 9: a restart used to end the process
 * (an 'error' event of a checked-out pg client) or answer 500.
 */

const RESTARTS: ('fast' | 'immediate')[] = ['fast', 'immediate', 'fast', 'immediate', 'fast']
/** Load keeps running this long between two restarts, and after the last. */
const STEADY_MS = 3000
/** A restart is recovered when a write succeeds again within this. */
const RECOVERY_BOUND_MS = 30_000

let postgres: ThrowawayPostgres | undefined
let coffer: CofferProcess | undefined
let databaseUrl: string

beforeAll(async () => {
  postgres = await startThrowawayPostgres()
  const admin = new pg.Client({ connectionString: postgres.url })
  await admin.connect()
  await admin.query('create database coffer')
  await admin.end()
  databaseUrl = postgres.url.replace(/\/postgres$/, '/coffer')
  coffer = await startCoffer(cofferEnv(databaseUrl))
})

afterAll(async () => {
  await coffer?.stop()
  await postgres?.stop()
})

/** Writes again until one succeeds: the pool has replaced its dead connections by itself. */
async function recovered(baseUrl: string, ledger: Ledger): Promise<number> {
  const started = Date.now()
  await until(
    async () => {
      const answer = await send(baseUrl, nextMovement(ledger))
      return acknowledged(answer)
    },
    'a write to succeed after the restart',
    RECOVERY_BOUND_MS,
  )
  return Date.now() - started
}

it('survives five PostgreSQL restarts under steady writes: no exit, no 500, no hang, nothing lost', async () => {
  const running = coffer!
  const ledger = await prepareLedger(running.baseUrl, 4)
  const load = new Load(() => running.baseUrl, ledger, { concurrency: 4, pauseMs: 10, maxRequests: 20_000 })
  load.start()
  const recoveries: number[] = []
  try {
    for (const mode of RESTARTS) {
      await sleep(STEADY_MS)
      await postgres!.restart(mode)
      recoveries.push(await recovered(running.baseUrl, ledger))
      expect(running.exit, running.output()).toBeNull()
    }
    await sleep(STEADY_MS)
  } finally {
    await load.stop()
  }

  expect(running.exit, running.output()).toBeNull()
  const failures = load.failures({ connectionErrorsAllowed: false })
  expect(failures.map((f) => `${f.status} ${f.failure ?? ''} ${JSON.stringify(f.body)}`)).toEqual([])
  // The outage was seen, and seen as 503 database_unavailable with Retry-After.
  const unavailable = load.movements.filter((m) => m.answer.status === 503)
  for (const movement of unavailable) {
    expect(movement.answer.body).toMatchObject({ code: 'database_unavailable' })
    expect(movement.answer.headers.get('retry-after')).toBe('2')
  }

  const report = await checkExactlyOnce(running.baseUrl, databaseUrl, load.movements)
  expect(report.lost).toEqual([])
  expect(report.duplicated).toEqual([])
  expect(report.unresolved).toEqual([])
  expect(report.acknowledged).toBeGreaterThan(100)

  const verify = await runCli(['verify'], { DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' })
  expect(verify.code, verify.stdout + verify.stderr).toBe(0)

  const fiveHundreds = load.count((a) => a.status >= 500)
  await reportSummary(
    `postgres-restart: requests=${load.sent} faults=${RESTARTS.length} (restarts ${RESTARTS.join(',')}) ` +
      `5xx=${fiveHundreds} (all 503 database_unavailable: ${unavailable.length}) 500=0 hangs=0 ` +
      `acknowledged=${report.acknowledged} acknowledged-lost=${report.lost.length} duplicated=${report.duplicated.length} ` +
      `recovery-ms=${recoveries.join(',')}`,
  )
})
