import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Subscription } from '../../src/events/bus.js'
import type { OperationsOverview } from '../../src/overview/overview.schemas.js'
import { startCommandConsumer } from '../../src/worker/commands.js'
import { createJobLeases } from '../../src/worker/job-leases.js'
import { createTestApp, type TestApp } from '../app.js'
import {
  type AuthHeaders,
  type CreatedApiKey,
  createApiKey,
  type SignedUpUser,
  signUp,
} from '../auth-fixtures.js'
import { idempotencyKey } from '../ledger.js'
import { eventually, fund, openWallet, type Problem } from '../wallets/fixtures.js'
import {
  createWebhook,
  createWebhookTestApp,
  type Receiver,
  startReceiver,
  type WebhookTestApp,
} from '../webhooks/fixtures.js'

/**
 * GET /api/v1/operations/overview (issue 17, the console's operations page): the outbox backlog,
 * dead letters, waiting work and worker leases, as Coffer records them in its database.
 */

async function overview(t: TestApp, headers: AuthHeaders): Promise<OperationsOverview> {
  const response = await t.app.inject({ method: 'GET', url: '/api/v1/operations/overview', headers })
  expect(response.statusCode, response.body).toBe(200)
  expect(response.headers['cache-control']).toBe('no-store')
  return response.json<OperationsOverview>()
}

describe('operations overview', () => {
  let t: TestApp
  let consumer: Subscription | undefined
  let admin: SignedUpUser
  let user: SignedUpUser

  beforeAll(async () => {
    // No worker: the outbox is not relayed and statement jobs stay queued, as with the worker down.
    t = await createTestApp()
    ;[admin, user] = await Promise.all([signUp(t, { roles: ['admin'] }), signUp(t)])
  })
  afterAll(async () => {
    await consumer?.close()
    await t?.close()
  })

  it('is for admins only, and does not shadow GET /operations/{id}', async () => {
    const refused = await t.app.inject({
      method: 'GET',
      url: '/api/v1/operations/overview',
      headers: user.headers,
    })
    expect(refused.statusCode, refused.body).toBe(403)
    expect(refused.json<Problem>().code).toBe('forbidden')
    const anonymous = await t.app.inject({ method: 'GET', url: '/api/v1/operations/overview' })
    expect(anonymous.statusCode).toBe(401)
    const operation = await t.app.inject({
      method: 'GET',
      url: `/api/v1/operations/${crypto.randomUUID()}`,
      headers: user.headers,
    })
    expect(operation.json<Problem>().code).toBe('operation_not_found')
  })

  it('counts committed events the relay has not published, with the age of the oldest', async () => {
    const before = await overview(t, admin.headers)
    const wallet = await openWallet(t, admin.headers, 'USD', user.userId)
    await fund(t, admin.headers, wallet.id, '10.00')
    const after = await overview(t, admin.headers)
    expect(after.outbox.pending).toBeGreaterThan(before.outbox.pending)
    expect(after.outbox.oldestPendingAt).not.toBeNull()
    expect(Date.parse(after.outbox.oldestPendingAt!)).toBeLessThanOrEqual(Date.parse(after.generatedAt))
    expect(after.outbox.oldestPendingAgeSeconds).toBeGreaterThan(0)

    // Once relayed, nothing is pending.
    await t.container.relay.run()
    const relayed = await overview(t, admin.headers)
    expect(relayed.outbox).toEqual({ pending: 0, oldestPendingAt: null, oldestPendingAgeSeconds: 0 })
  })

  it('lists an operation that failed for good as a dead letter, and counts accepted ones', async () => {
    const owner = await signUp(t)
    const wallet = await openWallet(t, owner.headers, 'USD')
    await fund(t, admin.headers, wallet.id, '3.00')
    const frozen = await t.app.inject({
      method: 'POST',
      url: `/api/v1/wallets/${wallet.id}/freeze`,
      headers: admin.headers,
    })
    expect(frozen.statusCode, frozen.body).toBe(200)
    const post = () =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/operations',
        // By an admin: money leaves the ledger through admins and services on every shape.
        headers: { ...admin.headers, 'idempotency-key': idempotencyKey('overview') },
        payload: { type: 'withdrawal', walletId: wallet.id, amount: '1.00' },
      })

    // No consumer yet: the operation waits, accepted.
    const waiting = await post()
    expect(waiting.statusCode, waiting.body).toBe(202)
    const before = await overview(t, admin.headers)
    expect(before.operations.accepted).toBe(1)
    expect(before.operations.oldestAcceptedAt).not.toBeNull()
    expect(before.deadLetters).toMatchObject({ count: 0, failedOperations: 0, latest: [] })

    consumer = await startCommandConsumer(t.container)
    const refused = await post()
    expect(refused.statusCode, refused.body).toBe(202)
    const refusedId = refused.json<{ id: string }>().id
    // With RabbitMQ the first one, queued meanwhile, fails too: wait for this one by its id.
    await eventually(
      async () =>
        (await overview(t, admin.headers)).deadLetters.latest.some((entry) => entry.id === refusedId),
      'the operation to fail',
    )
    const after = await overview(t, admin.headers)
    expect(after.deadLetters.failedOperations).toBeGreaterThanOrEqual(1)
    expect(after.deadLetters.count).toBe(
      after.deadLetters.failedOperations + after.deadLetters.failedWebhookDeliveries,
    )
    const letter = after.deadLetters.latest.find((entry) => entry.id === refusedId)
    expect(letter).toEqual({
      kind: 'operation',
      id: refusedId,
      type: 'withdrawal',
      source: 'coffer',
      reason: 'wallet_frozen',
      detail: expect.stringContaining(wallet.id),
      attempts: null,
      failedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    })
  })

  it('shows the leases of worker jobs, held or lapsed', async () => {
    const leases = createJobLeases(t.database.db, 'test-host:42:overview')
    expect(await leases.take('expire-holds', 60_000)).toBe(true)
    expect(await leases.take('purge-statements', 1)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 20))
    const { workerJobs } = await overview(t, admin.headers)
    expect(workerJobs.map((job) => job.job)).toEqual(['expire-holds', 'purge-statements'])
    expect(workerJobs[0]).toMatchObject({
      job: 'expire-holds',
      holder: 'test-host:42:overview',
      active: true,
    })
    expect(Date.parse(workerJobs[0]!.leaseUntil)).toBeGreaterThan(Date.now() + 30_000)
    expect(workerJobs[1]).toMatchObject({ job: 'purge-statements', active: false })
    await leases.release(['expire-holds', 'purge-statements'])
    expect((await overview(t, admin.headers)).workerJobs).toEqual([])
  })

  it('counts statement jobs by status', async () => {
    const before = await overview(t, admin.headers)
    const wallet = await openWallet(t, user.headers, 'EUR')
    const day = 86_400_000
    const query = new URLSearchParams({
      from: new Date(Date.now() - 40 * day).toISOString(),
      to: new Date(Date.now() + day).toISOString(),
    })
    const response = await t.app.inject({
      method: 'GET',
      url: `/api/v1/wallets/${wallet.id}/statement?${query}`,
      headers: user.headers,
    })
    expect(response.statusCode, response.body).toBe(202)
    const { statementJobs } = await overview(t, admin.headers)
    expect(statementJobs.queued).toBe(before.statementJobs.queued + 1)
    expect(statementJobs.oldestQueuedAt).not.toBeNull()
    expect(statementJobs).toMatchObject({ running: 0, failed: 0 })
  })
})

describe('operations overview: webhook deliveries that gave up', () => {
  let t: WebhookTestApp
  let admin: SignedUpUser
  let service: CreatedApiKey
  let down: Receiver

  beforeAll(async () => {
    // One attempt and one retry, and a subscription disabled after its first failed delivery.
    t = await createWebhookTestApp({
      env: { WEBHOOK_RETRY_DELAYS_MS: '20', WEBHOOK_DISABLE_AFTER_FAILURES: '1' },
    })
    admin = await signUp(t, { roles: ['admin'] })
    service = await createApiKey(t, ['service'])
    down = await startReceiver(() => 503)
  })
  afterAll(async () => {
    await t?.close()
    await down?.close()
  })

  it('lists a failed delivery with its last error, and counts the disabled subscription', async () => {
    const owner = await signUp(t)
    const wallet = await openWallet(t, owner.headers, 'USD')
    // Its one event is its own webhook.created: one delivery, so the count is exact.
    const hook = await createWebhook(t, service.headers, { url: down.url, walletId: wallet.id })
    await eventually(
      async () => (await overview(t, admin.headers)).deadLetters.failedWebhookDeliveries === 1,
      'the delivery to fail',
      20_000,
    )
    const { deadLetters, webhooks } = await overview(t, admin.headers)
    expect(deadLetters.count).toBe(1)
    expect(deadLetters.latest).toEqual([
      {
        kind: 'webhook_delivery',
        id: expect.any(String),
        type: 'webhook.created',
        source: hook.id,
        reason: 'HTTP 503',
        detail: null,
        attempts: 2,
        failedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
    ])
    expect(webhooks.disabledSubscriptions).toBe(1)
  })
})
