import type { EventEmitter } from 'node:events'
import type { Logger } from 'pino'

export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const

export interface Stoppable {
  name: string
  /** Stops taking new work and lets in-flight work finish. */
  stop(): Promise<void>
  /** Called when the graceful stop overran the timeout: cut what is left. */
  forceStop?(): void
}

export interface ShutdownOptions {
  /** In the order they stop: the HTTP server first, pools last. */
  parts: Stoppable[]
  timeoutMs: number
  logger: Logger
  signals?: EventEmitter
  exit?: (code: number) => void
}

/**
 * On the first shutdown signal: stop accepting, let in-flight work finish within the timeout,
 * close pools, exit 0. If the timeout passes, remaining work is cut and the exit code is 1.
 */
export function exitGracefullyOnSignals(options: ShutdownOptions): {
  shutdown: (reason: string) => Promise<void>
} {
  const signals = options.signals ?? process
  const exit = options.exit ?? ((code: number) => process.exit(code))
  let shuttingDown: Promise<void> | null = null

  const shutdown = (reason: string): Promise<void> => {
    if (shuttingDown) return shuttingDown
    options.logger.info({ reason, timeoutMs: options.timeoutMs }, 'shutting down')
    shuttingDown = (async () => {
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        options.logger.error({ timeoutMs: options.timeoutMs }, 'shutdown timed out; cutting in-flight work')
        for (const part of options.parts) part.forceStop?.()
      }, options.timeoutMs)
      let failed = false
      for (const part of options.parts) {
        try {
          await part.stop()
        } catch (error) {
          failed = true
          options.logger.error({ err: error, part: part.name }, 'error while stopping')
        }
      }
      clearTimeout(timer)
      options.logger.info('stopped')
      exit(timedOut || failed ? 1 : 0)
    })()
    return shuttingDown
  }

  for (const signal of SHUTDOWN_SIGNALS) {
    signals.once(signal, () => {
      void shutdown(signal)
    })
  }
  return { shutdown }
}
