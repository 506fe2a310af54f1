import { randomUUID } from 'node:crypto'
import type { Writable } from 'node:stream'
import { buildApp } from '../src/app.js'
import { type Config, loadConfig } from '../src/config.js'
import { type Container, createContainer } from '../src/container.js'
import type { App } from '../src/http/app-type.js'
import { createLogger } from '../src/logger.js'
import { createTestDatabase, type TestDatabase } from './database.js'
import { TEST_AMQP_URL, TEST_REDIS_URL, testShape } from './shape.js'

export interface TestApp {
  app: App
  container: Container
  database: TestDatabase
  /** Closes the app and its storage; safe to call again after a test already closed them. */
  close(): Promise<void>
}

export interface TestAppOptions {
  env?: Record<string, string>
  /** Test-only routes, registered after the app's own and before ready(), when Fastify still takes them. */
  routes?: (app: App) => void | Promise<void>
  /** Where log lines go, for tests that read them; set LOG_LEVEL in env to get any. */
  logStream?: Writable
}

/** Settings of the current test shape, plus the test's own. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  const services = testShape() === 'services' ? { REDIS_URL: TEST_REDIS_URL, AMQP_URL: TEST_AMQP_URL } : {}
  return loadConfig({ LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...services, ...overrides })
}

/**
 * Redis keys (rate-limit counters, the token denylist) named after the test database, so test
 * files sharing one Redis never see each other's; a test's own REDIS_KEY_PREFIX wins.
 */
function redisNamespaced(config: Config, database: TestDatabase, env: Record<string, string> = {}): Config {
  if (!config.REDIS_URL || env.REDIS_KEY_PREFIX) return config
  const name = database.url ? new URL(database.url).pathname.slice(1) : randomUUID()
  return { ...config, REDIS_KEY_PREFIX: `coffer-test:${name}:` }
}

/** The whole app on a fresh database of its own, so test files never share state. */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const config = testConfig(options.env)
  const database = await createTestDatabase()
  const container = await createContainer(
    redisNamespaced(config, database, options.env),
    createLogger(config, options.logStream),
    { database },
  )
  let app: App
  try {
    app = await buildApp(container)
    await options.routes?.(app)
    await app.ready()
  } catch (error) {
    // A test that expects start-up to fail must not leak the database it was given.
    await container.close()
    throw error
  }
  let closing: Promise<void> | null = null
  return {
    app,
    container,
    database,
    close: () => {
      closing ??= (async () => {
        await app.close()
        await container.close()
      })()
      return closing
    },
  }
}
