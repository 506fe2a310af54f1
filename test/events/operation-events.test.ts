import { afterAll, beforeAll, expect, it } from 'vitest'
import type { EventEnvelope, Subscription } from '../../src/events/bus.js'
import { contractViolations } from '../../src/events/contracts.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, signUp } from '../auth-fixtures.js'
import { idempotencyKey } from '../ledger.js'

// The events of part K's operations, checked against the contracts of part I.
let t: TestApp
let service: CreatedApiKey
const subscriptions: Subscription[] = []

beforeAll(async () => {
  // `guest` is the broker user of the test vhost; the in-process bus takes the sender as given.
  t = await createTestApp({ env: { COMMAND_SENDERS: 'guest' } })
  service = await createApiKey(t, ['service'])
})
afterAll(async () => {
  await Promise.all(subscriptions.map((s) => s.close()))
  await t.close()
})

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

it('publishes operation.succeeded and operation.failed keeping their contracts', async () => {
  const received: EventEnvelope[] = []
  subscriptions.push(
    await t.container.bus.subscribe('operation-events', ['operation.*'], async (event) => {
      received.push(event)
    }),
  )
  subscriptions.push(await t.container.bus.consumeCommands(t.container.commandHandler, { prefetch: 4 }))
  const owner = await signUp(t)
  const wallet = (
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/wallets',
      headers: owner.headers,
      payload: { currency: 'USD' },
    })
  ).json().id as string
  const operate = (payload: Record<string, unknown>) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/operations',
      headers: { ...service.headers, 'idempotency-key': idempotencyKey('op') },
      payload,
    })
  const ok = await operate({ type: 'deposit', walletId: wallet, amount: '5.00' })
  expect(ok.statusCode, ok.body).toBe(202)
  // A command from a service, refused when applied (the balance is too low).
  await t.container.bus.sendCommand(
    'withdrawal.requested',
    { operationId: 'op-too-much', walletId: wallet, amount: '50.00' },
    { sender: 'guest' },
  )

  await until(async () => {
    await t.container.relay.run()
    const types = new Set(received.map((e) => e.type))
    return types.has('operation.succeeded') && types.has('operation.failed')
  }, 'operation.succeeded and operation.failed')
  for (const event of received) expect(contractViolations(event), JSON.stringify(event)).toEqual([])
})
