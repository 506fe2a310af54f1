/** Which runtime shape the suite runs against: `npm test` embedded, `npm run test:services` real servers. */
export type TestShape = 'embedded' | 'services'

export function testShape(): TestShape {
  return process.env.COFFER_TEST_SHAPE === 'services' ? 'services' : 'embedded'
}

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const TEST_AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'

export function databaseUrlFor(database: string): string {
  const url = new URL(TEST_DATABASE_URL)
  url.pathname = `/${database}`
  return url.toString()
}
