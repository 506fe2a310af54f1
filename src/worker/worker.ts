import type { Logger } from 'pino'
import { isDatabaseUnavailable } from '../db/unavailable.js'
import { countedJobRun } from '../metrics/jobs.js'
import { type JobLeases, leaseMsFor } from './job-leases.js'

/** A periodic background job: runs, sleeps `intervalMs`, runs again; never two runs at once. */
export interface WorkerJob {
  name: string
  intervalMs: number
  /**
   * `one`: a single runner at a time across every worker process, the holder of the job's lease
   * (job-leases.ts): jobs that fold, expire or purge shared rows. `each` (the default): every
   * process runs it, as a job that refreshes the process's own state must.
   */
  runners?: 'one' | 'each'
  run(): Promise<void>
}

export interface Worker {
  start(): void
  /**
   * Lets a running job finish, then stops scheduling and gives up its leases, so another worker
   * takes its jobs over at once. `releaseLeases: false` (tests) stops as a worker that died does:
   * the others wait for the leases to expire.
   */
  stop(options?: { releaseLeases?: boolean }): Promise<void>
}

export interface WorkerOptions {
  /** First delay after a run failed because the database is unavailable; doubles on each failure. */
  backoffInitialMs?: number
  /** Longest delay between two attempts during an outage. */
  backoffMaxMs?: number
  /**
   * Where `runners: 'one'` jobs take their leases. Without it (unit tests of the scheduling) they
   * run as if this process were the only worker.
   */
  leases?: JobLeases
  /** Tests: a job's lease length, to see a dead worker's job taken over without waiting 10 s. */
  leaseMs?: (job: WorkerJob) => number
}

const DEFAULT_BACKOFF_INITIAL_MS = 1000
const DEFAULT_BACKOFF_MAX_MS = 30_000

/**
 * A job that fails because the database is unavailable is retried with capped exponential backoff
 * instead of on its interval (a 1-second job would otherwise hammer a restarting server and fill
 * the log). An outage is reported once, whichever jobs meet it: a warning when the first job
 * fails for it, a line when a job runs again. Any other failure is an error, logged each time, and the job keeps its interval.
 *
 * A `runners: 'one'` job runs only while this worker holds its lease: taken (or renewed) before
 * each run and renewed every third of its length in between, so the holder keeps it as long as
 * it lives. A worker that does not hold it tries again every third of the lease, so a dead
 * holder's job moves to another worker at most 4/3 of a lease after the holder's last renewal.
 */
export function createWorker(jobs: WorkerJob[], logger: Logger, options: WorkerOptions = {}): Worker {
  const initialMs = options.backoffInitialMs ?? DEFAULT_BACKOFF_INITIAL_MS
  const maxMs = options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS
  const timers = new Set<NodeJS.Timeout>()
  const running = new Set<Promise<void>>()
  let stopped = false
  /** One warning when the database goes away and one line when it is back, whichever jobs meet it. */
  let databaseDown = false
  const leases = options.leases
  const leaseMsOf = options.leaseMs ?? ((job: WorkerJob) => leaseMsFor(job.intervalMs))
  /** The renewal timers of the leases this worker holds, by job name. */
  const held = new Map<string, NodeJS.Timeout>()
  /** Renewals in flight, awaited before the leases are released so none lands after the release. */
  const renewing = new Set<Promise<void>>()

  const lost = (job: WorkerJob) => {
    clearInterval(held.get(job.name))
    held.delete(job.name)
    logger.warn({ job: job.name, owner: leases?.owner }, 'worker job lease lost to another worker')
  }

  const hold = (job: WorkerJob, leaseMs: number) => {
    if (held.has(job.name) || !leases) return
    logger.debug({ job: job.name, owner: leases.owner, leaseMs }, 'worker job lease taken')
    const renewal = setInterval(() => {
      const renewed = leases.take(job.name, leaseMs).then(
        (still) => {
          if (!still && held.has(job.name)) lost(job)
        },
        // A renewal the database did not answer: the next one, or the next run's take, tells.
        () => {},
      )
      renewing.add(renewed)
      void renewed.finally(() => renewing.delete(renewed))
    }, leaseMs / 3)
    held.set(job.name, renewal)
  }

  /** Runs the job if this worker may: the delay until the next attempt when it may not. */
  const attempt = async (job: WorkerJob): Promise<number | null> => {
    if (job.runners === 'one' && leases) {
      const leaseMs = leaseMsOf(job)
      if (!(await leases.take(job.name, leaseMs))) {
        if (held.has(job.name)) lost(job)
        return Math.min(job.intervalMs, leaseMs / 3)
      }
      hold(job, leaseMs)
    }
    await countedJobRun(job.name, () => job.run())
    return null
  }

  const schedule = (job: WorkerJob, delayMs: number, failuresInARow: number) => {
    if (stopped) return
    const timer = setTimeout(() => {
      timers.delete(timer)
      const run = attempt(job)
        .then(
          (waitMs) => {
            if (waitMs !== null) return { delayMs: waitMs, failuresInARow: 0 }
            if (databaseDown && failuresInARow > 0) {
              databaseDown = false
              logger.info(
                { job: job.name, failedAttempts: failuresInARow },
                'worker jobs resumed: database available',
              )
            }
            return { delayMs: job.intervalMs, failuresInARow: 0 }
          },
          (error: unknown) => {
            if (!isDatabaseUnavailable(error)) {
              logger.error({ err: error, job: job.name }, 'worker job failed')
              return { delayMs: job.intervalMs, failuresInARow: 0 }
            }
            const failures = failuresInARow + 1
            const backoffMs = Math.min(maxMs, initialMs * 2 ** (failures - 1))
            if (!databaseDown) {
              databaseDown = true
              logger.warn(
                { job: job.name, reason: (error as Error).message, retryInMs: backoffMs },
                'worker jobs backing off: database unavailable',
              )
            }
            return { delayMs: backoffMs, failuresInARow: failures }
          },
        )
        .then((next) => {
          running.delete(run)
          schedule(job, next.delayMs, next.failuresInARow)
        })
      running.add(run)
    }, delayMs)
    timers.add(timer)
  }

  return {
    start() {
      if (jobs.length === 0) {
        logger.info('worker started; idle: no background jobs are registered')
        return
      }
      logger.info({ jobs: jobs.map((j) => j.name) }, 'worker started')
      for (const job of jobs) schedule(job, 0, 0)
    },
    async stop(stopOptions = {}) {
      stopped = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      await Promise.allSettled([...running])
      for (const renewal of held.values()) clearInterval(renewal)
      const names = [...held.keys()]
      held.clear()
      await Promise.allSettled([...renewing])
      if (leases && stopOptions.releaseLeases !== false) {
        // Best effort: leases not given up (the database is down) expire on their own.
        await leases.release(names).catch((error: unknown) => {
          logger.warn({ err: error, jobs: names }, 'worker job leases not released; they will expire')
        })
      }
      logger.info('worker stopped')
    },
  }
}
