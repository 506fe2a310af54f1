import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../../test/app.js'
import { createJobLeases, leaseMsFor } from './job-leases.js'
import { workerJobs } from './jobs.js'
import { createWorker, type Worker, type WorkerJob } from './worker.js'

const silent = pino({ level: 'silent' })

interface Run {
  worker: string
  job: string
  startedAt: number
  endedAt: number
}

let testApp: TestApp

beforeAll(async () => {
  testApp = await createTestApp()
}, 60_000)

afterAll(async () => {
  await testApp?.close()
})

/** The real jobs of the worker, each run recorded with the name of the worker that ran it. */
function recordedJobs(worker: string, runs: Run[]): WorkerJob[] {
  return workerJobs(testApp.container).map((job) => ({
    ...job,
    run: async () => {
      const startedAt = performance.now()
      try {
        await job.run()
      } finally {
        runs.push({ worker, job: job.name, startedAt, endedAt: performance.now() })
      }
    },
  }))
}

// Short for the test, yet long enough that a busy machine does not hand a lease over by itself.
const LEASE_MS = 3000

function startWorker(name: string, runs: Run[]): Worker {
  const worker = createWorker(recordedJobs(name, runs), silent, {
    leases: createJobLeases(testApp.container.database.db, name),
    leaseMs: () => LEASE_MS,
  })
  worker.start()
  return worker
}

describe('job leases', () => {
  it('let one owner at a time hold a job, renew it, and another take it once it expired', async () => {
    const { db } = testApp.container.database
    const a = createJobLeases(db, 'lease-test-a')
    const b = createJobLeases(db, 'lease-test-b')
    expect(await a.take('lease-test', 300)).toBe(true)
    expect(await b.take('lease-test', 300)).toBe(false)
    expect(await a.take('lease-test', 300)).toBe(true)
    await sleep(400)
    expect(await b.take('lease-test', 300)).toBe(true)
    expect(await a.take('lease-test', 300)).toBe(false)
    await b.release(['lease-test'])
    expect(await a.take('lease-test', 300)).toBe(true)
    await a.release(['lease-test'])
  })

  it('last three intervals, between 10 and 60 seconds', () => {
    expect(leaseMsFor(1000)).toBe(10_000)
    expect(leaseMsFor(5000)).toBe(15_000)
    expect(leaseMsFor(30_000)).toBe(60_000)
    expect(leaseMsFor(600_000)).toBe(60_000)
  })
})

describe('two workers on one database', () => {
  it('run each leased job in one of them only, and the survivor takes a dead holder’s jobs within the bound', {
    timeout: 60_000,
  }, async () => {
    const runs: Run[] = []
    const leased = workerJobs(testApp.container)
      .filter((job) => job.runners === 'one')
      .map((job) => job.name)
    const perProcess = workerJobs(testApp.container)
      .filter((job) => job.runners !== 'one')
      .map((job) => job.name)
    expect(leased).toEqual(expect.arrayContaining(['fold-system-balances', 'expire-holds', 'settle-points']))
    expect(perProcess).toEqual(['reload-currencies', 'relay-outbox'])

    // Started in the same tick, so both race for every lease.
    const workers = { a: startWorker('a', runs), b: startWorker('b', runs) }
    await sleep(3000)

    const ranBy = (job: string, from = 0) =>
      new Set(runs.filter((r) => r.job === job && r.startedAt >= from).map((r) => r.worker))
    for (const job of leased) expect([...ranBy(job)], job).toHaveLength(1)
    // Jobs of each process's own state run in both.
    for (const job of perProcess) expect([...ranBy(job)].sort(), job).toEqual(['a', 'b'])

    // The holder of the busiest job dies (no release): the other takes over all it held.
    const holder = [...ranBy('fold-system-balances')][0] as 'a' | 'b'
    const survivor = holder === 'a' ? 'b' : 'a'
    const heldByDead = leased.filter((job) => ranBy(job).has(holder))
    await workers[holder].stop({ releaseLeases: false })
    const diedAt = performance.now()

    // The bound: the lease runs out at most LEASE_MS after the last renewal, and the survivor
    // tries every third of it. One more second for the run itself on a busy machine.
    const boundMs = (4 / 3) * LEASE_MS
    await sleep(boundMs + 1000)
    for (const job of heldByDead) {
      const first = runs.find((r) => r.job === job && r.worker === survivor && r.startedAt >= diedAt)
      expect(first, `${job} taken over by ${survivor}`).toBeDefined()
      expect(first!.startedAt - diedAt, job).toBeLessThan(boundMs + 1000)
    }
    // Nothing ran in the dead one after it stopped (jobs the survivor held all along, such as a
    // 30-second one, may not have come round again): the table says who holds what.
    for (const job of leased) expect([...ranBy(job, diedAt)], job).not.toContain(holder)

    const owners = await testApp.container.database.db
      .selectFrom('worker_job_leases')
      .select(['name', 'owner'])
      .where('name', 'in', leased)
      .execute()
    expect(owners.map((o) => o.owner)).toEqual(leased.map(() => survivor))

    // A clean stop gives the leases up, so the next worker need not wait for them to expire.
    await workers[survivor].stop()
    const left = await testApp.container.database.db
      .selectFrom('worker_job_leases')
      .select('name')
      .where('owner', '=', survivor)
      .execute()
    expect(left).toEqual([])
  })
})
