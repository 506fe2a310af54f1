import type { Logger } from 'pino'

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

export function createWorker(jobs: WorkerJob[], logger: Logger): Worker {
  const timers = new Set<NodeJS.Timeout>()
  const running = new Set<Promise<void>>()
  let stopped = false

  const schedule = (job: WorkerJob, delayMs: number) => {
    if (stopped) return
    const timer = setTimeout(() => {
      timers.delete(timer)
      const run = job
        .run()
        .catch((error: unknown) => logger.error({ err: error, job: job.name }, 'worker job failed'))
        .finally(() => {
          running.delete(run)
          schedule(job, job.intervalMs)
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
      for (const job of jobs) schedule(job, 0)
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
