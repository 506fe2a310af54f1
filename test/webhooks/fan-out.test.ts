import { sql } from 'kysely'
import { uuidv7 } from 'uuidv7'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Db } from '../../src/db/database.js'
import type { EventEnvelope } from '../../src/events/bus.js'
import { EventPartiesResolver } from '../../src/webhooks/event-parties.js'
import { WebhookFanOut } from '../../src/webhooks/fan-out.js'
import { walletOwner } from '../../src/webhooks/webhooks.repository.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey } from '../auth-fixtures.js'
import { WEBHOOK_TEST_ENV } from './fixtures.js'

/**
 * The fan-out alone (issue 12, deliver 2: order per wallet): the bus hands it many events at once
 * (RabbitMQ consumer concurrency), and their deliveries must still be stored in the order the
 * events arrived, also when the database is unavailable for a while in the middle.
 */

let t: TestApp
let service: CreatedApiKey

beforeAll(async () => {
  t = await createTestApp({ env: WEBHOOK_TEST_ENV })
  service = await createApiKey(t, ['service'])
})
afterAll(async () => {
  await t?.close()
})

function transactionPosted(walletId: string, n: number): EventEnvelope {
  const id = uuidv7()
  return {
    id,
    type: 'transaction.posted',
    version: 1,
    occurredAt: new Date().toISOString(),
    aggregate: { type: 'transaction', id },
    data: {
      id,
      type: 'deposit',
      entries: [{ walletId, currency: 'USD', amount: `${n}.00`, balanceAfter: null }],
    },
  }
}

/**
 * The real database, except that its first `failures` inserts fail before they are sent, as
 * statements do while the server restarts (57P01); a Kysely plugin, so nothing else changes.
 */
function flakyDatabase(db: Db, failures: { left: number }): Db {
  return db.withPlugin({
    transformQuery(args) {
      if (args.node.kind === 'InsertQueryNode' && failures.left > 0) {
        failures.left -= 1
        throw Object.assign(new Error('terminating connection due to administrator command'), {
          code: '57P01',
        })
      }
      return args.node
    },
    transformResult: async (args) => args.result,
  })
}

async function storedOrder(subscriptionId: string): Promise<string[]> {
  const { rows } = await sql<{ event_id: string }>`
    select event_id from webhook_deliveries where subscription_id = ${subscriptionId} order by seq
  `.execute(t.database.db)
  return rows.map((r) => r.event_id)
}

async function subscribe(): Promise<string> {
  const response = await t.app.inject({
    method: 'POST',
    url: '/api/v1/webhooks',
    headers: service.headers,
    payload: { url: 'http://127.0.0.1:9/never', eventTypes: ['transaction.posted'] },
  })
  expect(response.statusCode, response.body).toBe(201)
  return response.json<{ id: string }>().id
}

describe('webhook fan-out', () => {
  it('stores the deliveries of events handled at once in the order the events arrived', async () => {
    const subscriptionId = await subscribe()
    let woken = 0
    const fanOut = new WebhookFanOut({
      db: t.database.db,
      parties: new EventPartiesResolver((walletId) => walletOwner(t.database.db, walletId)),
      logger: t.container.logger,
      onDeliveries: () => {
        woken += 1
      },
    })
    await fanOut.reload()
    const walletId = uuidv7()
    const events = Array.from({ length: 300 }, (_, n) => transactionPosted(walletId, n + 1))
    // As the RabbitMQ consumer does with concurrency: every handler started before any finished.
    await Promise.all(events.map((event) => fanOut.handle(event)))
    expect(await storedOrder(subscriptionId)).toEqual(events.map((e) => e.id))
    // Batched: far fewer inserts (each wakes the dispatcher once) than events.
    expect(woken).toBeGreaterThan(0)
    expect(woken).toBeLessThan(events.length)
  })

  it('retries a batch in place while the database is unavailable, so no later event is stored first', async () => {
    const subscriptionId = await subscribe()
    const failures = { left: 3 }
    const fanOut = new WebhookFanOut({
      db: flakyDatabase(t.database.db, failures),
      parties: new EventPartiesResolver((walletId) => walletOwner(t.database.db, walletId)),
      logger: t.container.logger,
      onDeliveries: () => undefined,
    })
    await fanOut.reload()
    const walletId = uuidv7()
    const first = Array.from({ length: 20 }, (_, n) => transactionPosted(walletId, n + 1))
    const handled = first.map((event) => fanOut.handle(event))
    const later = Array.from({ length: 20 }, (_, n) => transactionPosted(walletId, n + 21))
    handled.push(...later.map((event) => fanOut.handle(event)))
    await Promise.all(handled)
    expect(failures.left).toBe(0)
    expect(await storedOrder(subscriptionId)).toEqual([...first, ...later].map((e) => e.id))
  })

  it('gives events back to the bus when closed during an outage', async () => {
    await subscribe()
    const fanOut = new WebhookFanOut({
      db: flakyDatabase(t.database.db, { left: Number.POSITIVE_INFINITY }),
      parties: new EventPartiesResolver((walletId) => walletOwner(t.database.db, walletId)),
      logger: t.container.logger,
      onDeliveries: () => undefined,
    })
    await fanOut.reload()
    const pending = fanOut.handle(transactionPosted(uuidv7(), 1))
    await new Promise((resolve) => setTimeout(resolve, 150))
    fanOut.close()
    await expect(pending).rejects.toThrow(/closed/)
  })
})
