import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { uuidv7 } from 'uuidv7'
import type { Container } from '../container.js'
import { isDatabaseUnavailable } from '../db/unavailable.js'

export interface StatementRunnerOptions {
  workerId?: string
  /** Tests: a short lease, to see a dead worker's job taken over without waiting 30 s. */
  leaseMs?: number
  /** How long an idle lane waits before it looks for a job again (a new job in this process wakes it). */
  pollMs?: number
  concurrency?: number
}

export interface RunningStatements {
  close(): Promise<void>
}

const DEFAULT_POLL_MS = 200
const BACKOFF_MAX_MS = 30_000

/**
 * The worker's statement jobs: `concurrency` lanes, each taking the oldest runnable job (queued,
 * or held by a worker whose lease ran out) and generating its file. On stop, a job in progress is
 * handed back at its next chunk, for another worker to do.
 */
export function startStatements(
  container: Container,
  options: StatementRunnerOptions = {},
): RunningStatements {
  const { statements, logger, config } = container
  const workerId = options.workerId ?? `${hostname()}:${process.pid}:${uuidv7().slice(-12)}`
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS
  const concurrency = options.concurrency ?? config.STATEMENT_WORKER_CONCURRENCY
  const leaseMs = options.leaseMs ?? config.STATEMENT_LEASE_SECONDS * 1000
  const stopping = new AbortController()
  let wakeUp = new AbortController()
  let databaseDown = false
  const unsubscribe = statements.onNewJob(() => wakeUp.abort())

  const idle = async (ms: number) => {
    const wake = wakeUp.signal
    await sleep(ms, undefined, { signal: AbortSignal.any([wake, stopping.signal]) }).catch(() => undefined)
    if (wake.aborted && wakeUp.signal === wake) wakeUp = new AbortController()
  }

  const lane = async () => {
    let backoffMs = 0
    while (!stopping.signal.aborted) {
      let ran = false
      try {
        ran = await statements.runNextJob(workerId, { signal: stopping.signal, leaseMs })
        if (databaseDown) {
          databaseDown = false
          logger.info('statement jobs resumed: database available')
        }
        backoffMs = 0
      } catch (error) {
        if (!isDatabaseUnavailable(error)) logger.error({ err: error }, 'statement runner failed')
        else if (!databaseDown) {
          databaseDown = true
          logger.warn(
            { reason: (error as Error).message },
            'statement jobs backing off: database unavailable',
          )
        }
        backoffMs = Math.min(BACKOFF_MAX_MS, Math.max(1000, backoffMs * 2))
        await idle(backoffMs)
        continue
      }
      if (!ran) await idle(pollMs)
    }
  }

  const lanes = Array.from({ length: concurrency }, () => lane())
  return {
    close: async () => {
      unsubscribe()
      stopping.abort()
      await Promise.all(lanes)
    },
  }
}
