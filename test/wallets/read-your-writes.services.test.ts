import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { type Container, createContainer } from '../../src/container.js'
import { createPostgresPool, kyselyOverPool } from '../../src/db/database.js'
import type { App } from '../../src/http/app-type.js'
import { createLogger } from '../../src/logger.js'
import type { TestApp } from '../app.js'
import { testConfig } from '../app.js'
import { type CreatedApiKey, createApiKey } from '../auth-fixtures.js'
import { createTestDatabase, type TestDatabase } from '../database.js'
import { fund, openWallet } from './fixtures.js'

/**
 * Reads on a replica that lags, as far as it can: a database with Coffer's schema that never
 * replays anything the primary writes. Every read after a write must still show the write.
 */
let primary: TestDatabase
let stale: TestDatabase
let container: Container
let app: App
let t: TestApp
let service: CreatedApiKey

beforeAll(async () => {
  primary = await createTestDatabase()
  stale = await createTestDatabase()
  const config = testConfig({ SELF_DEPOSITS: 'false' })
  container = await createContainer(config, createLogger(config), {
    database: { ...primary, readDb: stale.db, close: async () => undefined },
  })
  app = await buildApp(container)
  await app.ready()
  t = { app, container, database: primary, close: async () => undefined }
  service = await createApiKey(t, ['service'])
})
afterAll(async () => {
  await app?.close()
  await container?.close()
  await stale?.close()
  await primary?.close()
})

describe('read-your-writes with a lagging replica', () => {
  it('shows a write in the history, the past balance, the transaction and the statement read right after it', async () => {
    const wallet = await openWallet(t, service.headers, 'USD', crypto.randomUUID())
    const deposit = await fund(t, service.headers, wallet.id, '12.34')
    expect(await container.wallets.readerFor(wallet.id)).toBe(container.database.db)

    const history = await app.inject({
      method: 'GET',
      url: `/api/v1/wallets/${wallet.id}/transactions`,
      headers: service.headers,
    })
    expect(history.statusCode, history.body).toBe(200)
    expect(history.json<{ items: { transactionId: string }[] }>().items.map((i) => i.transactionId)).toEqual([
      deposit.id,
    ])
    const at = await app.inject({
      method: 'GET',
      url: `/api/v1/wallets/${wallet.id}/balance?at=${deposit.createdAt}`,
      headers: service.headers,
    })
    expect(at.json<{ balance: string }>().balance).toBe('12.34')
    const transaction = await app.inject({
      method: 'GET',
      url: `/api/v1/transactions/${deposit.id}`,
      headers: service.headers,
    })
    expect(transaction.statusCode).toBe(200)
    const list = await app.inject({ method: 'GET', url: '/api/v1/wallets', headers: service.headers })
    expect(list.statusCode).toBe(200)
    const statement = await app.inject({
      method: 'GET',
      url: `/api/v1/wallets/${wallet.id}/statement?from=${new Date(Date.now() - 60_000).toISOString()}&to=${new Date(Date.now() + 60_000).toISOString()}`,
      headers: service.headers,
    })
    expect(statement.statusCode, statement.body).toBe(200)
    expect(statement.json<{ closingBalance: string }>().closingBalance).toBe('12.34')
  })

  it("reads the replica once it has the wallet's latest change", async () => {
    // A second pool on the primary itself: a replica that is never behind.
    const caughtUp = kyselyOverPool(createPostgresPool(primary.url!, 4))
    const config = testConfig()
    const other = await createContainer(config, createLogger(config), {
      database: { ...primary, readDb: caughtUp, close: async () => undefined },
    })
    try {
      const wallet = await openWallet(t, service.headers, 'EUR', crypto.randomUUID())
      await fund(t, service.headers, wallet.id, '1.00')
      expect(await other.wallets.readerFor(wallet.id)).toBe(caughtUp)
    } finally {
      await other.close()
      await caughtUp.destroy()
    }
  })
})
