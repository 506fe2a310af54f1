import type { Logger } from 'pino'
import { isDatabaseUnavailable } from '../db/unavailable.js'

/** A periodic background job: runs, sleeps `intervalMs`, runs again; never two runs at once. */
export interface WorkerJob {
  name: string
  intervalMs: number
  run(): Promise<void>
}

export interface Worker {
  start(): void
  /** Lets a running job finish, then stops scheduling. */
  stop(): Promise<void>
}

export interface WorkerOptions {
  /** First delay after a run failed because the database is unavailable; doubles on each failure. */
  backoffInitialMs?: number
  /** Longest delay between two attempts during an outage. */
  backoffMaxMs?: number
}

const DEFAULT_BACKOFF_INITIAL_MS = 1000
const DEFAULT_BACKOFF_MAX_MS = 30_000

/**
 * A job that fails because the database is unavailable is retried with capped exponential backoff
 * instead of on its interval (a 1-second job would otherwise hammer a restarting server and fill
 * the log). An outage is reported once, whichever jobs meet it: a warning when the first job
 * fails for it, a line when a job runs again. Any other failure is an error, logged each time, and the job keeps its interval.
 */
export function createWorker(jobs: WorkerJob[], logger: Logger, options: WorkerOptions = {}): Worker {
  const initialMs = options.backoffInitialMs ?? DEFAULT_BACKOFF_INITIAL_MS
  const maxMs = options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS
  const timers = new Set<NodeJS.Timeout>()
  const running = new Set<Promise<void>>()
  let stopped = false
  /** One warning when the database goes away and one line when it is back, whichever jobs meet it. */
  let databaseDown = false

  const schedule = (job: WorkerJob, delayMs: number, failuresInARow: number) => {
    if (stopped) return
    const timer = setTimeout(() => {
      timers.delete(timer)
      const run = job
        .run()
        .then(
          () => {
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
    async stop() {
      stopped = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      await Promise.allSettled([...running])
      logger.info('worker stopped')
    },
  }
}
