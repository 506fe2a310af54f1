import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventEnvelope, Subscription } from '../../src/events/bus.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, signUp } from '../auth-fixtures.js'
import { idempotencyKey } from '../ledger.js'

const run = promisify(execFile)

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

// The broker exists only in the services shape; the in-process bus cannot be down.
describe('the broker down', () => {
  let t: TestApp
  let service: CreatedApiKey
  let subscription: Subscription | null = null

  beforeAll(async () => {
    t = await createTestApp()
    service = await createApiKey(t, ['service'])
  })
  afterAll(async () => {
    await subscription?.close()
    await t.close()
  })

  it('makes readiness name the broker while writes go on, and the events follow once it is back', async () => {
    const vhost = t.vhost!
    const received: EventEnvelope[] = []
    subscription = await t.container.bus.subscribe('readiness', ['transaction.posted'], async (event) => {
      received.push(event)
    })
    const owner = await signUp(t)
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/wallets',
      headers: owner.headers,
      payload: { currency: 'USD' },
    })
    const wallet = created.json().id as string
    const ready = () => t.app.inject({ method: 'GET', url: '/health/ready' })
    expect((await ready()).statusCode).toBe(200)

    // The broker goes away for this app only: its vhost is deleted, which closes its connections.
    await run('rabbitmqctl', ['-q', 'delete_vhost', vhost.name])
    await until(async () => (await ready()).statusCode === 503, 'readiness to fail')
    const notReady = await ready()
    expect(notReady.json().detail).toContain('broker')

    for (let i = 0; i < 3; i++) {
      const deposit = await t.app.inject({
        method: 'POST',
        url: `/api/v1/wallets/${wallet}/deposits`,
        headers: { ...service.headers, 'idempotency-key': idempotencyKey('outage') },
        payload: { amount: '1.00' },
      })
      expect(deposit.statusCode, deposit.body).toBe(201)
    }
    // The relay cannot publish: the events stay in the outbox (it waits at most its publish timeout).
    expect(await t.container.relay.run()).toBe(0)
    const health = (await t.app.inject({ method: 'GET', url: '/health' })).json()
    expect(health.dependencies.find((d: { name: string }) => d.name === 'broker').status).toBe('down')
    expect(
      health.dependencies.find((d: { name: string }) => d.name === 'outbox').details.backlog,
    ).toBeGreaterThanOrEqual(3)

    await run('rabbitmqctl', ['-q', 'add_vhost', vhost.name])
    await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost.name, 'guest', '.*', '.*', '.*'])
    await until(async () => (await ready()).statusCode === 200, 'readiness to recover')

    await until(async () => {
      await t.container.relay.run()
      const deposits = received.filter((e) =>
        (e.data.entries as { walletId?: string }[]).some((entry) => entry.walletId === wallet),
      )
      return new Set(deposits.map((e) => e.id)).size === 3
    }, 'the three deposits to be delivered')
  })
})
