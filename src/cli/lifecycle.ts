import type { EventEmitter } from 'node:events'
import type { Server } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'

export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const

export interface Stoppable {
  name: string
  /** Stops taking new work and lets in-flight work finish. */
  stop(): Promise<void>
  /** Called when the graceful stop overran the timeout: cut what is left. */
  forceStop?(): void
}

/** How often the draining HTTP server closes connections that have fallen idle. */
const IDLE_SWEEP_MS = 50

export interface HttpApp {
  server: Pick<Server, 'closeIdleConnections' | 'closeAllConnections'>
  close(): PromiseLike<unknown>
}

/**
 * The HTTP server as a shutdown part. Node closes idle keep-alive connections once, when the
 * server starts closing; a connection whose request was still running then stays open after its
 * response until the client hangs up (Fastify keeps idle sockets 72 s), which would hold the
 * shutdown past its timeout and exit 1. So while draining, connections are closed as they fall idle.
 */
export function httpServerPart(app: HttpApp): Stoppable {
  return {
    name: 'http',
    stop: async () => {
      const sweeper = setInterval(() => app.server.closeIdleConnections(), IDLE_SWEEP_MS)
      try {
        await app.close()
      } finally {
        clearInterval(sweeper)
      }
    },
    forceStop: () => app.server.closeAllConnections(),
  }
}

const DEFAULT_FORCED_STOP_GRACE_MS = 2000

export interface ShutdownDrain {
  /** How long requests are still served after the signal, with readiness failing; 0: none. */
  ms: number
  /** Makes /health/ready answer 503 (drainingCheck). */
  begin(): void
}

export interface ShutdownOptions {
  /** In the order they stop: the HTTP server first, pools last. */
  parts: Stoppable[]
  /** How long the parts may take to stop, counted from the end of the drain. */
  timeoutMs: number
  /**
   * An API process first drains: readiness fails while the listener still serves, so a load
   * balancer routes elsewhere before connections are refused; then the parts stop.
   */
  drain?: ShutdownDrain
  /**
   * After the timeout has cut in-flight work, how long the parts still get to finish (closing
   * pools cleanly) before the process exits 1 regardless: a part that never stops, such as a
   * worker job stuck on a lock, must not keep the process alive forever.
   */
  forcedStopGraceMs?: number
  logger: Logger
  signals?: EventEmitter
  exit?: (code: number) => void
}

/**
 * On the first shutdown signal: drain (readiness 503, still serving) when the options say so,
 * then stop accepting, let in-flight work finish within the timeout, close pools, exit 0. If the
 * timeout passes, remaining work is cut and the exit code is 1.
 */
export function exitGracefullyOnSignals(options: ShutdownOptions): {
  shutdown: (reason: string) => Promise<void>
} {
  const signals = options.signals ?? process
  const exitProcess = options.exit ?? ((code: number) => process.exit(code))
  let exited = false
  const exit = (code: number) => {
    if (exited) return
    exited = true
    exitProcess(code)
  }
  let shuttingDown: Promise<void> | null = null

  const shutdown = (reason: string): Promise<void> => {
    if (shuttingDown) return shuttingDown
    options.logger.info({ reason, timeoutMs: options.timeoutMs }, 'shutting down')
    shuttingDown = (async () => {
      if (options.drain) {
        options.drain.begin()
        if (options.drain.ms > 0) {
          options.logger.info(
            { drainMs: options.drain.ms },
            'draining: /health/ready answers 503; requests are served until the listener closes',
          )
          await sleep(options.drain.ms)
        }
      }
      let timedOut = false
      let graceTimer: NodeJS.Timeout | undefined
      const timer = setTimeout(() => {
        timedOut = true
        options.logger.error({ timeoutMs: options.timeoutMs }, 'shutdown timed out; cutting in-flight work')
        for (const part of options.parts) part.forceStop?.()
        graceTimer = setTimeout(() => {
          options.logger.error('parts still running after being cut; exiting without them')
          exit(1)
        }, options.forcedStopGraceMs ?? DEFAULT_FORCED_STOP_GRACE_MS)
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
      clearTimeout(graceTimer)
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
