import dotenv from 'dotenv'
import type { Logger } from 'pino'
import { buildApp } from '../app.js'
import { type Config, ConfigError, loadConfig } from '../config.js'
import { type Container, createContainer } from '../container.js'
import { DatabaseUnreachable } from '../db/database.js'
import { MigrationFailed, migrateToLatest } from '../db/migrate.js'
import { createLogger } from '../logger.js'
import { workerJobs } from '../worker/jobs.js'
import { createWorker } from '../worker/worker.js'
import { exitGracefullyOnSignals, type Stoppable } from './lifecycle.js'

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

/** Connects and migrates, or exits 1 with a clear message: start-up problems never hang. */
export async function containerOrExit(config: Config, logger: Logger): Promise<Container> {
  try {
    const container = await createContainer(config, logger)
    await migrateToLatest(container.database.db, logger)
    return container
  } catch (error) {
    if (error instanceof DatabaseUnreachable || error instanceof MigrationFailed) {
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

  if (options.api) {
    const app = await buildApp(container)
    await app.listen({ port: config.PORT, host: config.HOST })
    parts.push({
      name: 'http',
      stop: () => app.close(),
      forceStop: () => app.server.closeAllConnections(),
    })
  }
  if (options.worker) {
    const worker = createWorker(workerJobs(container), logger)
    worker.start()
    parts.push({ name: 'worker', stop: () => worker.stop() })
  }
  parts.push({ name: 'storage', stop: () => container.close() })
  exitGracefullyOnSignals({ parts, timeoutMs: config.SHUTDOWN_TIMEOUT_MS, logger })
}

export async function runMigrations(): Promise<void> {
  const config = configOrExit()
  const logger = createLogger(config)
  const container = await containerOrExit(config, logger)
  logger.info('database is at the latest migration')
  await container.close()
}
