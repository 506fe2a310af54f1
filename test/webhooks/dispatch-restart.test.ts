import { sql } from 'kysely'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { checkWebhookUrl } from '../../src/webhooks/destination-policy.js'
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.js'
import { createWebhookSender } from '../../src/webhooks/sender.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { fund, openWallet } from '../wallets/fixtures.js'
import {
  createWebhook,
  createWebhookTestApp,
  deliveryLog,
  eventually,
  type Receiver,
  startReceiver,
  type WebhookTestApp,
} from './fixtures.js'

// Deliveries live in the database: a new dispatcher continues an old one's work.
let t: WebhookTestApp
let admin: SignedUpUser
let service: CreatedApiKey
const receivers: Receiver[] = []

beforeAll(async () => {
  // Retries spread over a few seconds, so deliveries are still pending when the dispatcher stops.
  t = await createWebhookTestApp({
    env: { WEBHOOK_RETRY_DELAYS_MS: '200,200,200,200,200,200,200,200,200,200' },
  })
  admin = await signUp(t, { roles: ['admin'] })
  service = await createApiKey(t, ['service'])
})
afterAll(async () => {
  await t?.close()
  await Promise.all(receivers.map((r) => r.close()))
})

async function receiver(answer?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const started = await startReceiver(answer)
  receivers.push(started)
  return started
}

async function walletWithHook(r: Receiver) {
  const owner = await signUp(t)
  const wallet = await openWallet(t, owner.headers, 'USD')
  const hook = await createWebhook(t, service.headers, {
    url: r.url,
    walletId: wallet.id,
    eventTypes: ['transaction.posted'],
  })
  r.secrets = [hook.secret]
  return { wallet, hook }
}

async function pendingCount(subscriptionId: string): Promise<number> {
  const rows = await t.database.db
    .selectFrom('webhook_deliveries')
    .select('id')
    .where('subscription_id', '=', subscriptionId)
    .where('status', '=', 'pending')
    .execute()
  return rows.length
}

it('delivers what was pending when the dispatcher stopped, with a new one', async () => {
  const r = await receiver(() => 503)
  const { wallet, hook } = await walletWithHook(r)
  const deposits: string[] = []
  for (let i = 0; i < 3; i++) deposits.push((await fund(t, admin.headers, wallet.id, '1.00')).id)
  await eventually(
    async () => r.requests.length > 0 && (await pendingCount(hook.id)) === 3,
    'first attempts failing',
  )
  await t.stopWebhooks()
  const seen = r.requests.length
  r.answer = () => 200
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(r.requests.length).toBe(seen)
  expect(await pendingCount(hook.id)).toBe(3)

  await t.startWebhooks({ workerId: 'second-worker' })
  await eventually(async () => (await pendingCount(hook.id)) === 0, 'delivered by the new dispatcher')
  expect(r.delivered().map((req) => req.body.data.id)).toEqual(deposits)
  for (const req of r.requests) expect(req.verifiedWith).toHaveLength(1)
})

it("takes over a dead worker's lease once it has expired, not before", async () => {
  const r = await receiver()
  const { wallet, hook } = await walletWithHook(r)
  // A worker that took the lease and died: nobody renews it.
  await sql`
    update webhook_subscriptions set lease_owner = 'dead-worker', lease_until = now() + interval '1500 milliseconds'
    where id = ${hook.id}
  `.execute(t.database.db)
  const leaseUntil = Date.now() + 1500
  const deposit = (await fund(t, admin.headers, wallet.id, '1.00')).id
  await eventually(async () => (await pendingCount(hook.id)) === 1, 'the delivery stored')
  await new Promise((resolve) => setTimeout(resolve, 500))
  expect(r.requests).toHaveLength(0)
  await eventually(async () => r.delivered().length === 1, 'delivered after the lease expired', 10_000)
  expect(r.delivered()[0]!.body.data.id).toBe(deposit)
  // Clocks of the database and the test differ by little; allow for it.
  expect(r.requests[0]!.receivedAt).toBeGreaterThanOrEqual(leaseUntil - 200)
  const lease = await t.database.db
    .selectFrom('webhook_subscriptions')
    .select('lease_owner')
    .where('id', '=', hook.id)
    .executeTakeFirstOrThrow()
  expect(lease.lease_owner).not.toBe('dead-worker')
})

it('refuses loopback at send time when the sender does not allow it, whatever the API accepted', async () => {
  const r = await receiver()
  // Created while WEBHOOK_ALLOW_LOCALHOST was on (this app's setting) ...
  const { wallet, hook } = await walletWithHook(r)
  await t.stopWebhooks()
  // ... and delivered by a worker where it is off.
  await t.startWebhooks({
    sender: createWebhookSender({ policy: { allowLocalhost: false }, timeoutMs: 300 }),
  })
  await fund(t, admin.headers, wallet.id, '1.00')
  await eventually(
    async () => (await deliveryLog(t, service.headers, hook.id)).some((entry) => entry.attempts > 0),
    'an attempt',
  )
  const [entry] = await deliveryLog(t, service.headers, hook.id)
  expect(entry).toMatchObject({ status: 'pending', lastStatusCode: null })
  expect(entry!.lastError).toEqual(expect.any(String))
  const refusal = checkWebhookUrl(r.url, { allowLocalhost: false })
  expect(refusal.ok).toBe(false)
  expect(entry!.lastError).toContain(refusal.ok ? 'unreachable' : refusal.reason)
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(r.requests).toHaveLength(0)
  await t.stopWebhooks()
  await t.startWebhooks()
})

it('two dispatchers never send one subscription at once: each message once, in order per wallet', async () => {
  const r = await receiver()
  const owner = await signUp(t)
  const wallets = [await openWallet(t, owner.headers, 'USD'), await openWallet(t, owner.headers, 'EUR')]
  const hook = await createWebhook(t, service.headers, {
    url: r.url,
    userId: owner.userId,
    eventTypes: ['transaction.posted'],
  })
  r.secrets = [hook.secret]
  const other = new WebhookDispatcher({
    db: t.database.db,
    sender: t.container.webhookSender,
    logger: t.container.logger,
    retryDelaysMs: [50],
    disableAfterFailures: 3,
    concurrency: 8,
    workerId: 'other-worker',
    pollIntervalMs: 5,
  })
  other.start()
  try {
    const expected = new Map<string, string[]>()
    for (let i = 0; i < 12; i++) {
      const wallet = wallets[i % 2]!
      const id = (await fund(t, admin.headers, wallet.id, '1.00')).id
      expected.set(wallet.id, [...(expected.get(wallet.id) ?? []), id])
    }
    await eventually(
      async () => (await pendingCount(hook.id)) === 0 && r.delivered().length === 12,
      'all delivered',
    )
    expect(r.requests).toHaveLength(12)
    for (const wallet of wallets) {
      const got = r.delivered().filter((req) => JSON.stringify(req.body.data).includes(wallet.id))
      expect(got.map((req) => req.body.data.id)).toEqual(expected.get(wallet.id))
    }
  } finally {
    await other.stop()
  }
})

it('stops within its grace while a request hangs, releasing the lease; the delivery stays pending', async () => {
  const r = await receiver(() => 'hang')
  const { wallet, hook } = await walletWithHook(r)
  await t.stopWebhooks()
  const slow = createWebhookSender({ policy: { allowLocalhost: true }, timeoutMs: 10_000 })
  const dispatcher = new WebhookDispatcher({
    db: t.database.db,
    sender: slow,
    logger: t.container.logger,
    retryDelaysMs: [50],
    disableAfterFailures: 3,
    concurrency: 4,
    workerId: 'stopping-worker',
    pollIntervalMs: 5,
    stopGraceMs: 100,
  })
  try {
    // A delivery as the fan-out stores it; only `dispatcher` runs.
    await t.database.db
      .insertInto('webhook_deliveries')
      .values({
        id: crypto.randomUUID(),
        subscription_id: hook.id,
        event_id: crypto.randomUUID(),
        event_type: 'wallet.frozen',
        order_keys: [wallet.id],
        payload: JSON.stringify({ id: 'x', type: 'wallet.frozen', data: {} }),
        occurred_at: new Date(),
      })
      .execute()
    dispatcher.start()
    await eventually(async () => r.requests.length === 1, 'the hanging request')
  } catch (error) {
    await dispatcher.stop()
    throw error
  }
  const started = Date.now()
  await dispatcher.stop()
  expect(Date.now() - started).toBeLessThan(1000)
  const row = await t.database.db
    .selectFrom('webhook_subscriptions')
    .select('lease_owner')
    .where('id', '=', hook.id)
    .executeTakeFirstOrThrow()
  expect(row.lease_owner).toBeNull()
  expect(await pendingCount(hook.id)).toBe(1)
  await slow.close()
  r.answer = () => 200
  await t.startWebhooks()
})
