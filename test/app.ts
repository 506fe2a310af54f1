import { type App, buildApp } from '../src/app.js'
import { type Config, loadConfig } from '../src/config.js'
import { type Container, createContainer } from '../src/container.js'
import { createLogger } from '../src/logger.js'
import { createTestDatabase, type TestDatabase } from './database.js'
import { TEST_AMQP_URL, TEST_REDIS_URL, testShape } from './shape.js'

export interface TestApp {
  app: App
  container: Container
  database: TestDatabase
  close(): Promise<void>
}

/** Settings of the current test shape, plus the test's own. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  const services = testShape() === 'services' ? { REDIS_URL: TEST_REDIS_URL, AMQP_URL: TEST_AMQP_URL } : {}
  return loadConfig({ LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...services, ...overrides })
}

/** The whole app on a fresh database of its own, so test files never share state. */
export async function createTestApp(options: { env?: Record<string, string> } = {}): Promise<TestApp> {
  const config = testConfig(options.env)
  const database = await createTestDatabase()
  const container = await createContainer(config, createLogger(config), { database })
  const app = await buildApp(container)
  await app.ready()
  return {
    app,
    container,
    database,
    close: async () => {
      await app.close()
      await container.close()
    },
  }
}
