import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import type { Writable } from 'node:stream'
import { promisify } from 'node:util'
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
  /** The app's own RabbitMQ vhost (services shape), null with the in-process bus. */
  vhost?: TestVhost | null
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

const run = promisify(execFile)

/** A RabbitMQ virtual host of its own (exchanges, queues, commands), deleted by `drop()`. */
export interface TestVhost {
  /** AMQP_URL with the vhost as its path. */
  url: string
  name: string
  drop(): Promise<void>
}

/**
 * Creates a vhost on the shared test broker (TEST_AMQP_URL) with full rights for its user, so
 * test files running in parallel never consume each other's events or commands.
 */
export async function createTestVhost(baseUrl: string = TEST_AMQP_URL): Promise<TestVhost> {
  const url = new URL(baseUrl)
  const name = `coffer-test-${randomUUID().replaceAll('-', '').slice(0, 16)}`
  const user = decodeURIComponent(url.username || 'guest')
  await run('rabbitmqctl', ['-q', 'add_vhost', name])
  await run('rabbitmqctl', ['-q', 'set_permissions', '-p', name, user, '.*', '.*', '.*'])
  url.pathname = `/${encodeURIComponent(name)}`
  return {
    url: url.toString(),
    name,
    drop: async () => {
      await run('rabbitmqctl', ['-q', 'delete_vhost', name])
    },
  }
}

/** The whole app on a fresh database (and, with a broker, a vhost) of its own, so test files never share state. */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const shaped = testConfig(options.env)
  // A test that names its own AMQP_URL keeps it.
  const vhost = shaped.AMQP_URL && !options.env?.AMQP_URL ? await createTestVhost(shaped.AMQP_URL) : null
  const config = vhost ? { ...shaped, AMQP_URL: vhost.url } : shaped
  let database: TestDatabase
  let container: Container
  try {
    database = await createTestDatabase()
    container = await createContainer(
      redisNamespaced(config, database, options.env),
      createLogger(config, options.logStream),
      { database },
    ).catch(async (error: unknown) => {
      await database.close()
      throw error
    })
  } catch (error) {
    await vhost?.drop()
    throw error
  }
  let app: App
  try {
    app = await buildApp(container)
    await options.routes?.(app)
    await app.ready()
  } catch (error) {
    // A test that expects start-up to fail must not leak the database or vhost it was given.
    try {
      await container.close()
    } finally {
      await vhost?.drop()
    }
    throw error
  }
  let closing: Promise<void> | null = null
  return {
    app,
    container,
    database,
    vhost,
    close: () => {
      closing ??= (async () => {
        try {
          await app.close()
          await container.close()
        } finally {
          await vhost?.drop()
        }
      })()
      return closing
    },
  }
}
