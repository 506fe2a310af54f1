import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { withAdmin } from '../database.js'
import { databaseUrlFor } from '../shape.js'
import { cofferEnv, Load, prepareLedger, reportSummary } from './support/api.js'
import { checkExactlyOnce } from './support/checks.js'
import { type CofferProcess, runCli, startCoffer } from './support/processes.js'

/**
 * `kill -9` of `coffer start` in the middle of concurrent deposits and transfers, then a restart
 * on the same database. Killing Coffer disturbs no one, so this uses a fresh database on the
 * shared PostgreSQL, dropped afterwards.
 */

const KILLS = 2
/** Load runs this long before each kill. */
const LOAD_BEFORE_KILL_MS = 3000

const name = `coffer_fault_kill9_${randomUUID().replaceAll('-', '').slice(0, 12)}`
const databaseUrl = databaseUrlFor(name)
let coffer: CofferProcess | undefined

beforeAll(async () => {
  await withAdmin((admin) => admin.query(`create database ${name}`))
})

afterAll(async () => {
  await coffer?.stop()
  await withAdmin((admin) => admin.query(`drop database if exists ${name} with (force)`))
})

it('loses no acknowledged write and applies none twice across kill -9 and restart', async () => {
  coffer = await startCoffer(cofferEnv(databaseUrl))
  const ledger = await prepareLedger(coffer.baseUrl, 4)
  const load = new Load(() => coffer!.baseUrl, ledger, { concurrency: 8, pauseMs: 0, maxRequests: 50_000 })
  let killedInFlight = 0

  for (let kill = 0; kill < KILLS; kill++) {
    load.start()
    await sleep(LOAD_BEFORE_KILL_MS)
    const before = load.movements.length
    await coffer.kill9()
    expect(coffer.exit?.signal).toBe('SIGKILL')
    await load.stop()
    // Requests cut by the kill answered nothing: those are the unacknowledged ones.
    killedInFlight += load.movements.slice(before).filter((m) => m.answer.failure === 'connection').length
    coffer = await startCoffer(cofferEnv(databaseUrl))
  }

  // Everything the load saw before a kill was a real answer: no 5xx at all, no hang.
  const failures = load.failures({ connectionErrorsAllowed: true })
  expect(failures.map((f) => `${f.status} ${f.failure ?? ''}`)).toEqual([])
  expect(load.count((a) => a.status >= 500)).toBe(0)

  const report = await checkExactlyOnce(coffer.baseUrl, databaseUrl, load.movements)
  expect(report.lost).toEqual([])
  expect(report.duplicated).toEqual([])
  expect(report.unresolved).toEqual([])
  expect(report.acknowledged).toBeGreaterThan(100)
  expect(killedInFlight).toBeGreaterThan(0)

  const verify = await runCli(['verify'], { DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' })
  expect(verify.code, verify.stdout + verify.stderr).toBe(0)

  await reportSummary(
    `kill-9: requests=${load.sent} faults=${KILLS} (kill -9 of coffer start) 5xx=0 ` +
      `acknowledged=${report.acknowledged} unacknowledged-retried=${report.unacknowledged} (cut in flight: ${killedInFlight}) ` +
      `acknowledged-lost=${report.lost.length} duplicated=${report.duplicated.length}`,
  )
})
