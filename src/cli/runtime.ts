import dotenv from 'dotenv'
import type { Logger } from 'pino'
import { buildApp } from '../app.js'
import { type Config, ConfigError, loadConfig, shutdownDrainMsOf } from '../config.js'
import { type Container, createContainer } from '../container.js'
import { DataDirInUse } from '../db/data-dir-lock.js'
import { DatabaseUnreachable } from '../db/database.js'
import { MigrationFailed, migrateToLatest } from '../db/migrate.js'
import { outboxStats } from '../events/relay.js'
import { drainingCheck } from '../http/health.js'
import { type MetricsListener, startMetricsListener } from '../http/metrics-listener.js'
import { LEDGER_CHECKS, verifyLedger } from '../ledger/verify.js'
import { createLogger } from '../logger.js'
import { startCommandConsumer } from '../worker/commands.js'
import { createJobLeases } from '../worker/job-leases.js'
import { workerJobs } from '../worker/jobs.js'
import { startStatements } from '../worker/statements.js'
import { startWebhooks } from '../worker/webhooks.js'
import { createWorker } from '../worker/worker.js'
import { exitGracefullyOnSignals, httpServerPart, type ShutdownDrain, type Stoppable } from './lifecycle.js'

/** Reads config or exits 2 with a message naming each bad variable. */
export function configOrExit(): Config {
  // A .env file in the working directory fills in what the environment does not set.
  dotenv.config({ quiet: true })
  try {
    return loadConfig()
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`coffer: ${error.message}\n`)
      process.exit(2)
    }
    throw error
  }
}

export interface ContainerOrExitOptions {
  /**
   * The way out to print when another process holds the embedded database, for a command that has
   * a better one than the default "stop it first, or use DATABASE_URL".
   */
  whenDataDirInUse?: string
}

/** Connects and migrates, or exits 1 with a clear message: start-up problems never hang. */
export async function containerOrExit(
  config: Config,
  logger: Logger,
  options: ContainerOrExitOptions = {},
): Promise<Container> {
  try {
    const container = await createContainer(config, logger)
    await migrateToLatest(container.database.db, logger)
    // The signing key and the COFFER_ADMIN_EMAIL admin need the migrated tables.
    await container.auth.prepare()
    return container
  } catch (error) {
    if (error instanceof DataDirInUse) {
      const advice = error.advice(options.whenDataDirInUse)
      logger.fatal({ dataDir: error.dataDir, holderPid: error.holder?.pid }, advice)
      process.stderr.write(`coffer: ${advice}\n`)
    } else if (error instanceof DatabaseUnreachable || error instanceof MigrationFailed) {
      logger.fatal({ err: error }, error.message)
      process.stderr.write(`coffer: ${error.message}\n`)
    } else {
      logger.fatal({ err: error }, 'start-up failed')
    }
    process.exit(1)
  }
}

export interface RunOptions {
  api: boolean
  worker: boolean
}

export async function runProcess(options: RunOptions): Promise<void> {
  const config = configOrExit()
  const logger = createLogger(config)
  const container = await containerOrExit(config, logger)
  const parts: Stoppable[] = []
  // First, so a worker (which has no API) is scrapeable from the start; stopped last, before storage.
  const metrics = config.METRICS_PORT
    ? await metricsListenerOrExit(config.METRICS_PORT, config, container)
    : null
  let drain: ShutdownDrain | undefined

  if (options.api) {
    // Before buildApp, which hands the checks to the health routes.
    const readiness = drainingCheck()
    container.healthChecks.push(readiness)
    drain = { ms: shutdownDrainMsOf(config), begin: () => readiness.drain() }
    const app = await buildApp(container)
    // Each API process hears every key and session revoked anywhere (a queue of its own), so its
    // principal cache drops them within the relay's latency (docs/reliability.md).
    const revocations = await container.auth.followRevocations(container.bus)
    try {
      await app.listen({ port: config.PORT, host: config.HOST })
    } catch (error) {
      // One line an operator can act on, not a stack trace; the log line keeps the error.
      const problem = describeListenError(error, config)
      logger.fatal({ err: error, port: config.PORT, host: config.HOST }, problem)
      process.stderr.write(`coffer: ${problem}\n`)
      try {
        await app.close()
        await container.close()
      } catch (closeError) {
        logger.error({ err: closeError }, 'error while closing after the failed listen')
      }
      process.exit(1)
    }
    parts.push(httpServerPart(app))
    if (revocations) parts.push({ name: 'revocations', stop: () => revocations.close() })
  }
  if (options.worker) {
    const worker = createWorker(workerJobs(container), logger, {
      leases: createJobLeases(container.database.db),
    })
    worker.start()
    parts.push({ name: 'worker', stop: () => worker.stop() })
    const commands = await startCommandConsumer(container)
    parts.push({ name: 'commands', stop: () => commands.close() })
    const webhooks = await startWebhooks(container)
    parts.push({ name: 'webhooks', stop: () => webhooks.close() })
    const statements = startStatements(container)
    parts.push({ name: 'statements', stop: () => statements.close() })
  }
  if (metrics) parts.push({ name: 'metrics', stop: () => metrics.close() })
  parts.push({ name: 'storage', stop: () => container.close() })
  exitGracefullyOnSignals({
    parts,
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    logger,
    ...(drain ? { drain } : {}),
  })
}

/** METRICS_PORT's listener, or exit 1 with one line naming the port, as a failed listen on PORT does. */
async function metricsListenerOrExit(
  port: number,
  config: Config,
  container: Container,
): Promise<MetricsListener> {
  const { logger } = container
  try {
    return await startMetricsListener({
      port,
      host: config.HOST,
      logger,
      outbox: () => outboxStats(container.database.db),
    })
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? String(error.code) : ''
    const problem =
      code === 'EADDRINUSE'
        ? `METRICS_PORT ${port} is already in use on ${config.HOST}; stop what holds it, or set METRICS_PORT`
        : `cannot listen for metrics on ${config.HOST}:${port} (METRICS_PORT): ${error instanceof Error ? error.message : String(error)}`
    logger.fatal({ err: error, port, host: config.HOST }, problem)
    process.stderr.write(`coffer: ${problem}\n`)
    await container.close().catch((closeError: unknown) => {
      logger.error({ err: closeError }, 'error while closing after the failed metrics listen')
    })
    process.exit(1)
  }
}

function describeListenError(error: unknown, config: Pick<Config, 'PORT' | 'HOST'>): string {
  const code = error instanceof Error && 'code' in error ? error.code : undefined
  switch (code) {
    case 'EADDRINUSE':
      return `port ${config.PORT} is already in use on ${config.HOST} (another Coffer or another server); stop it, or set PORT`
    case 'EACCES':
      return `no permission to listen on port ${config.PORT}; use a port above 1023, or set PORT`
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${config.HOST}: no such address on this machine; set HOST`
    default:
      return `cannot listen on ${config.HOST}:${config.PORT}: ${error instanceof Error ? error.message : String(error)}`
  }
}

export async function runMigrations(): Promise<void> {
  const config = configOrExit()
  const logger = createLogger(config)
  const container = await containerOrExit(config, logger)
  logger.info('database is at the latest migration')
  await container.close()
}

/** `coffer verify`: checks every ledger invariant; exits 1 naming each violation. */
export async function runVerify(): Promise<void> {
  const config = configOrExit()
  const logger = createLogger({ LOG_LEVEL: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL })
  const container = await containerOrExit(config, logger)
  const violations = await verifyLedger(container.database.db)
  await container.close()
  if (violations.length === 0) {
    process.stdout.write(`verify: ok (${LEDGER_CHECKS.length} checks passed)\n`)
    return
  }
  for (const violation of violations)
    process.stdout.write(`verify: FAIL ${violation.check}: ${violation.detail}\n`)
  process.stdout.write(`verify: ${violations.length} violation(s)\n`)
  process.exitCode = 1
}
