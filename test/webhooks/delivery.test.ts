import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkWebhookUrl } from '../../src/webhooks/destination-policy.js'
import { newWebhookSecret } from '../../src/webhooks/signing.js'
import { WebhooksService } from '../../src/webhooks/webhooks.service.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { fund, openWallet, postMoney, transfer } from '../wallets/fixtures.js'
import {
  createWebhook,
  createWebhookTestApp,
  deliveryLog,
  eventually,
  getWebhook,
  type Receiver,
  startReceiver,
  type WebhookTestApp,
} from './fixtures.js'

let t: WebhookTestApp
let admin: SignedUpUser
let service: CreatedApiKey
const receivers: Receiver[] = []

beforeAll(async () => {
  t = await createWebhookTestApp()
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

async function outboxSince(seq: bigint) {
  const { rows } = await sql<{ id: string; type: string; seq: bigint; payload: Record<string, unknown> }>`
    select id, type, seq, payload from outbox where seq > ${seq} order by seq
  `.execute(t.database.db)
  return rows
}

async function lastOutboxSeq(): Promise<bigint> {
  const { rows } = await sql<{ seq: bigint | null }>`select max(seq) as seq from outbox`.execute(
    t.database.db,
  )
  return rows[0]?.seq ?? 0n
}

function concernsWallet(payload: Record<string, unknown>, walletId: string): boolean {
  return JSON.stringify(payload).includes(walletId)
}

async function noPendingDeliveries(subscriptionIds: string[]): Promise<boolean> {
  const pending = await t.database.db
    .selectFrom('webhook_deliveries')
    .select('id')
    .where('subscription_id', 'in', subscriptionIds)
    .where('status', '=', 'pending')
    .execute()
  return pending.length === 0
}

describe('delivery', () => {
  it('delivers every event once per subscription, signed, in commit order per wallet, through 500s and timeouts', async () => {
    const owner = await signUp(t)
    const from = await openWallet(t, owner.headers, 'USD')
    const to = await openWallet(t, admin.headers, 'USD', crypto.randomUUID())
    await fund(t, admin.headers, from.id, '1000.00')

    // Every third message fails its first attempt with a 500, every fifth hangs past the timeout.
    const flaky = await receiver((_request, nth) => {
      if (nth > 0) return 200
      const index = new Set(flaky.requests.map((r) => r.webhookId)).size
      if (index % 5 === 4) return 'hang'
      return index % 3 === 2 ? 500 : 200
    })
    const steady = await receiver()
    const all = await createWebhook(t, admin.headers, { url: flaky.url })
    flaky.secrets = [all.secret]
    const transactions = await createWebhook(t, service.headers, {
      url: steady.url,
      eventTypes: ['transaction.*'],
    })
    steady.secrets = [transactions.secret]
    await eventually(
      async () => flaky.delivered().some((r) => r.body.aggregate.id === transactions.id),
      'webhook.created',
    )
    const since = await lastOutboxSeq()

    const transfers = 20
    for (let i = 0; i < transfers; i++) {
      const response = await transfer(t, owner.headers, {
        fromWalletId: from.id,
        toWalletId: to.id,
        amount: '1.00',
      })
      expect(response.statusCode, response.body).toBe(201)
    }
    const events = await outboxSince(since)
    expect(events.filter((e) => e.type === 'transaction.posted')).toHaveLength(transfers)

    await eventually(
      async () => {
        const got = new Set(flaky.delivered().map((r) => r.body.id))
        return events.every((e) => got.has(e.id))
      },
      'every event at the flaky receiver',
      20_000,
    )
    await eventually(
      async () => steady.delivered().filter((r) => r.body.type === 'transaction.posted').length >= transfers,
      'every transaction at the steady receiver',
    )

    // The failures really happened, and were retried with the same webhook-id.
    expect(flaky.requests.some((r) => r.answer === 500)).toBe(true)
    expect(flaky.requests.some((r) => r.answer === 'hang')).toBe(true)
    for (const request of [...flaky.requests, ...steady.requests]) {
      expect(request.verifiedWith, request.rawBody).toHaveLength(1)
      expect(request.headers['webhook-timestamp']).toMatch(/^\d+$/)
    }
    for (const r of flaky.requests) {
      expect(r.body).toEqual({
        id: expect.any(String),
        type: expect.any(String),
        timestamp: expect.any(String),
        version: 1,
        aggregate: { type: expect.any(String), id: expect.any(String) },
        data: expect.any(Object),
      })
    }

    // Exactly once per subscription after de-duplicating by webhook-id: one webhook-id per event.
    for (const r of [flaky, steady]) {
      const idsPerEvent = new Map<string, Set<string>>()
      for (const request of r.requests) {
        const ids = idsPerEvent.get(request.body.id) ?? new Set()
        ids.add(request.webhookId)
        idsPerEvent.set(request.body.id, ids)
      }
      for (const ids of idsPerEvent.values()) expect(ids.size).toBe(1)
    }

    // In commit order for the wallet.
    const committed = events.filter((e) => concernsWallet(e.payload, from.id)).map((e) => e.id)
    const deliveredOrder = flaky
      .delivered()
      .map((r) => r.body.id)
      .filter((id) => committed.includes(id))
    expect(deliveredOrder).toEqual(committed)
    const steadyOrder = steady
      .delivered()
      .map((r) => r.body.id)
      .filter((id) => committed.includes(id))
    expect(steadyOrder).toEqual(events.filter((e) => e.type === 'transaction.posted').map((e) => e.id))
    expect(steady.requests.every((r) => r.body.type.startsWith('transaction.'))).toBe(true)

    // The log says what happened.
    await eventually(() => noPendingDeliveries([all.id]), 'the log settled')
    const log = await deliveryLog(t, admin.headers, all.id)
    const retried = log.filter((entry) => entry.attempts > 1)
    expect(retried.length).toBeGreaterThan(0)
    for (const entry of log) {
      expect(entry).toMatchObject({ status: 'succeeded', lastStatusCode: 200 })
      expect(entry.lastLatencyMs).toBeGreaterThanOrEqual(0)
      expect(entry.completedAt).not.toBeNull()
    }
    const detail = await t.app.inject({
      method: 'GET',
      url: `/api/v1/webhooks/${all.id}/deliveries/${retried[0]!.id}`,
      headers: admin.headers,
    })
    expect(detail.statusCode).toBe(200)
    const sent = flaky.requests.find((r) => r.webhookId === retried[0]!.id)!
    expect(detail.json().payload).toBe(sent.rawBody)
    expect(detail.json().lastResponseBody).toBe('answer 200')
  })
})

describe('filters', () => {
  it('by wallet, by user and by event type patterns', async () => {
    const ada = await signUp(t)
    const bob = await signUp(t)
    const adaUsd = await openWallet(t, ada.headers, 'USD')
    const adaEur = await openWallet(t, ada.headers, 'EUR')
    const bobUsd = await openWallet(t, bob.headers, 'USD')
    const [byWallet, byUser, byType] = [await receiver(), await receiver(), await receiver()]
    const walletHook = await createWebhook(t, service.headers, { url: byWallet.url, walletId: adaUsd.id })
    const userHook = await createWebhook(t, service.headers, { url: byUser.url, userId: ada.userId })
    const typeHook = await createWebhook(t, service.headers, { url: byType.url, eventTypes: ['hold.*'] })

    const adaDeposit = await fund(t, admin.headers, adaUsd.id, '50.00')
    const eurDeposit = await fund(t, admin.headers, adaEur.id, '20.00')
    const bobDeposit = await fund(t, admin.headers, bobUsd.id, '30.00')
    const bobHold = await postMoney(t, admin.headers, '/api/v1/holds', {
      walletId: bobUsd.id,
      amount: '5.00',
    })
    expect(bobHold.statusCode, bobHold.body).toBe(201)
    // A hold on Ada's USD wallet concerns all three, so once each has it, the fan-out has done the rest.
    const sentinel = await postMoney(t, admin.headers, '/api/v1/holds', {
      walletId: adaUsd.id,
      amount: '1.00',
    })
    expect(sentinel.statusCode, sentinel.body).toBe(201)
    const sentinelHold = sentinel.json().id as string
    for (const r of [byWallet, byUser, byType]) {
      await eventually(
        async () =>
          r
            .delivered()
            .some((req) => req.body.type === 'hold.created' && req.body.data.holdId === sentinelHold),
        'the sentinel hold',
      )
    }
    await eventually(
      () => noPendingDeliveries([walletHook.id, userHook.id, typeHook.id]),
      'no pending deliveries',
    )

    const transactionsAt = (r: Receiver) =>
      r
        .delivered()
        .filter((req) => req.body.type === 'transaction.posted')
        .map((req) => req.body.data.id)
    expect(transactionsAt(byWallet)).toContain(adaDeposit.id)
    expect(transactionsAt(byWallet)).not.toContain(eurDeposit.id)
    expect(transactionsAt(byWallet)).not.toContain(bobDeposit.id)
    expect(transactionsAt(byUser)).toEqual(expect.arrayContaining([adaDeposit.id, eurDeposit.id]))
    expect(transactionsAt(byUser)).not.toContain(bobDeposit.id)
    const typesAt = (r: Receiver) => new Set(r.delivered().map((req) => req.body.type))
    expect([...typesAt(byType)]).toEqual(['hold.created'])
    const holdsAt = byType.delivered().map((req) => req.body.data.holdId)
    expect(holdsAt).toEqual([bobHold.json().id, sentinelHold])
    for (const req of byWallet.delivered()) expect(JSON.stringify(req.body.data)).toContain(adaUsd.id)
  })

  it('gives revocations of keys and sessions to admins only', async () => {
    const [services, admins] = [await receiver(), await receiver()]
    const credentialEvents = ['api_key.revoked', 'session.revoked', 'access_token.revoked']
    const servicesHook = await createWebhook(t, service.headers, {
      url: services.url,
      eventTypes: credentialEvents,
    })
    await createWebhook(t, admin.headers, { url: admins.url, eventTypes: credentialEvents })
    const retired = await createApiKey(t, ['service'])
    const revoked = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/api-keys/${retired.id}`,
      headers: admin.headers,
    })
    expect(revoked.statusCode).toBe(204)
    const about = (r: Receiver) =>
      r
        .delivered()
        .filter((req) => req.body.aggregate.id === retired.id)
        .map((req) => req.body.type)
    await eventually(async () => about(admins).length === 1, "the admin's")
    expect(about(admins)).toEqual(['api_key.revoked'])
    const stored = await t.database.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('subscription_id', '=', servicesHook.id)
      .execute()
    expect(stored).toEqual([])
  })

  it('gives webhook.* events only to admins and to the owner of the subscription', async () => {
    const [mine, theirs, admins] = [await receiver(), await receiver(), await receiver()]
    const other = await createApiKey(t, ['service'])
    const mineHook = await createWebhook(t, service.headers, { url: mine.url, eventTypes: ['webhook.*'] })
    const theirsHook = await createWebhook(t, other.headers, { url: theirs.url, eventTypes: ['webhook.*'] })
    await createWebhook(t, admin.headers, { url: admins.url, eventTypes: ['webhook.*'] })
    const extra = await createWebhook(t, service.headers, { url: 'https://example.com/x' })
    const deleted = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/webhooks/${extra.id}`,
      headers: service.headers,
    })
    expect(deleted.statusCode).toBe(204)
    const last = await createWebhook(t, other.headers, { url: 'https://example.com/y' })

    const about = (r: Receiver, id: string) =>
      r
        .delivered()
        .filter((req) => req.body.aggregate.id === id)
        .map((req) => req.body.type)
    await eventually(
      async () => about(theirs, last.id).length === 1 && about(admins, last.id).length === 1,
      'the last one',
    )
    // Events of different subscriptions share no order key, so they may arrive in any order.
    await eventually(async () => about(mine, extra.id).length === 2, "the owner's own")
    await eventually(async () => about(admins, extra.id).length === 2, "the admin's")
    expect(about(mine, extra.id)).toEqual(['webhook.created', 'webhook.deleted'])
    expect(about(admins, extra.id)).toEqual(['webhook.created', 'webhook.deleted'])
    // The fan-out handled every event by now (it did `last`); what it stored is all that will go.
    const stored = async (subscriptionId: string, aggregateId: string) =>
      (
        await t.database.db
          .selectFrom('webhook_deliveries')
          .select('id')
          .where('subscription_id', '=', subscriptionId)
          .where('payload', 'like', `%${aggregateId}%`)
          .execute()
      ).length
    expect(await stored(theirsHook.id, extra.id)).toBe(0)
    expect(await stored(mineHook.id, last.id)).toBe(0)
    expect(about(theirs, extra.id)).toEqual([])
    for (const req of admins.delivered()) expect(req.rawBody).not.toContain('whsec_')
  })
})

describe('retries, disabling and replay', () => {
  it('retries with backoff, fails, disables after the bound, resumes when enabled, replays', async () => {
    const down = await receiver(() => 500)
    const owner = await signUp(t)
    const wallet = await openWallet(t, owner.headers, 'USD')
    const hook = await createWebhook(t, service.headers, { url: down.url, walletId: wallet.id })
    down.secrets = [hook.secret]
    const deposits: string[] = []
    for (let i = 0; i < 4; i++) deposits.push((await fund(t, admin.headers, wallet.id, '1.00')).id)

    await eventually(
      async () => (await getWebhook(t, service.headers, hook.id)).status === 'disabled',
      'disabled',
      20_000,
    )
    const view = await getWebhook(t, service.headers, hook.id)
    expect(view).toMatchObject({ status: 'disabled', failing: true, consecutiveFailures: 3 })
    expect(view.disabledReason).toContain('3')
    const disabledEvents = await t.database.db
      .selectFrom('outbox')
      .select('payload')
      .where('type', '=', 'webhook.disabled')
      .where('aggregate_id', '=', hook.id)
      .execute()
    expect(disabledEvents).toHaveLength(1)
    expect(disabledEvents[0]!.payload).toMatchObject({
      id: hook.id,
      status: 'disabled',
      consecutiveFailures: 3,
    })

    // Three attempts each (the first and WEBHOOK_RETRY_DELAYS_MS "50,100"), the gaps growing.
    const log = await deliveryLog(t, service.headers, hook.id)
    const failed = log.filter((entry) => entry.status === 'failed')
    expect(failed).toHaveLength(3)
    for (const entry of failed) {
      expect(entry).toMatchObject({ attempts: 3, lastStatusCode: 500, nextAttemptAt: null })
      expect(entry.lastLatencyMs).toBeGreaterThanOrEqual(0)
      const attempts = down.requests.filter((r) => r.webhookId === entry.id)
      expect(attempts).toHaveLength(3)
      expect(new Set(attempts.map((r) => r.body.id))).toEqual(new Set([entry.eventId]))
      // 50 ms and 100 ms, each less up to 20 % jitter.
      expect(attempts[1]!.receivedAt - attempts[0]!.receivedAt).toBeGreaterThanOrEqual(35)
      expect(attempts[2]!.receivedAt - attempts[1]!.receivedAt).toBeGreaterThanOrEqual(75)
    }
    const first = failed.at(-1)!
    const stillPending = log.filter((entry) => entry.status === 'pending')
    expect(stillPending.map((e) => e.eventId)).toContain(await eventIdOf(deposits[3]!))
    expect((await deliveryLog(t, service.headers, hook.id, '&status=failed')).map((e) => e.id)).toEqual(
      failed.map((e) => e.id),
    )

    // While disabled: no new deliveries, the pending one waits.
    const whileDisabled = (await fund(t, admin.headers, wallet.id, '2.00')).id
    const requestsBefore = down.requests.length
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(down.requests.length).toBe(requestsBefore)
    expect((await deliveryLog(t, service.headers, hook.id)).map((e) => e.eventId)).not.toContain(
      await eventIdOf(whileDisabled),
    )

    // Enabled again (receiver healed): the pending delivery goes out.
    down.answer = () => 200
    const enabled = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/webhooks/${hook.id}`,
      headers: service.headers,
      payload: { enabled: true },
    })
    expect(enabled.json()).toMatchObject({ status: 'enabled', consecutiveFailures: 0 })
    await eventually(
      async () => down.delivered().some((r) => r.body.data.id === deposits[3]),
      'the pending one',
    )

    // Replay one failed delivery: same webhook-id, a fresh schedule, attempts keep counting.
    const replay = await t.app.inject({
      method: 'POST',
      url: `/api/v1/webhooks/${hook.id}/deliveries/${first.id}/replay`,
      headers: service.headers,
    })
    expect(replay.statusCode, replay.body).toBe(202)
    await eventually(
      async () => down.delivered().some((r) => r.webhookId === first.id),
      'the replayed delivery',
    )
    await eventually(
      async () =>
        (await deliveryLog(t, service.headers, hook.id)).find((e) => e.id === first.id)?.status ===
        'succeeded',
      'its log',
    )
    expect((await deliveryLog(t, service.headers, hook.id)).find((e) => e.id === first.id)).toMatchObject({
      status: 'succeeded',
      attempts: 4,
      lastStatusCode: 200,
    })

    // Replay a range: the one from while it was disabled is created, the failed ones go again.
    const range = await t.app.inject({
      method: 'POST',
      url: `/api/v1/webhooks/${hook.id}/replay`,
      headers: service.headers,
      payload: {
        from: new Date(Date.now() - 3600_000).toISOString(),
        to: new Date(Date.now() + 1000).toISOString(),
      },
    })
    expect(range.statusCode, range.body).toBe(202)
    // Wallet created before the subscription is in range too: its wallet.created concerns the wallet.
    expect(range.json().deliveries).toBeGreaterThanOrEqual(6)
    await eventually(
      async () => down.delivered().some((r) => r.body.data.id === whileDisabled),
      'the event from while disabled',
    )
    await eventually(() => noPendingDeliveries([hook.id]), 'everything delivered')
    const delivered = new Set(down.delivered().map((r) => r.body.data.id))
    for (const id of [...deposits, whileDisabled]) expect(delivered).toContain(id)
    const byEvent = new Map<string, Set<string>>()
    for (const r of down.requests)
      byEvent.set(r.body.id, (byEvent.get(r.body.id) ?? new Set()).add(r.webhookId))
    for (const ids of byEvent.values()) expect(ids.size).toBe(1)
    expect(await getWebhook(t, service.headers, hook.id)).toMatchObject({
      failing: false,
      consecutiveFailures: 0,
    })
  })

  it('bounds a range replay, naming the count', async () => {
    const hook = await createWebhook(t, service.headers, { url: 'https://example.com/z' })
    const { container } = t
    // The app's bound is 10,000 events; the same service with a bound of 2 shows the refusal.
    const bounded = new WebhooksService({
      db: container.database.db,
      logger: container.logger,
      checkUrl: (url) => checkWebhookUrl(url, { allowLocalhost: true }),
      newSecret: newWebhookSecret,
      secretGraceHours: 1,
      parties: container.webhookParties,
      replayLimit: 2,
    })
    const principal = { kind: 'api_key' as const, id: service.id, userId: null, roles: ['service' as const] }
    const range = { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' }
    const refused = await bounded.replayRange(principal, hook.id, range).catch((error: unknown) => error)
    expect(refused).toMatchObject({ code: 'replay_range_too_large', extensions: { limit: 2 } })
    expect((refused as { extensions: { events: number } }).extensions.events).toBeGreaterThan(2)
    expect((refused as Error).message).toContain('narrow')
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/v1/webhooks/${hook.id}/replay`,
      headers: service.headers,
      payload: range,
    })
    expect(response.statusCode, response.body).toBe(202)
    expect(response.json().deliveries).toBeGreaterThan(2)
  })
})

describe('secret rotation', () => {
  it('signs with both secrets during the grace period, then with the new one only', async () => {
    const r = await receiver()
    const owner = await signUp(t)
    const wallet = await openWallet(t, owner.headers, 'USD')
    const hook = await createWebhook(t, service.headers, { url: r.url, walletId: wallet.id })
    const rotated = await t.app.inject({
      method: 'POST',
      url: `/api/v1/webhooks/${hook.id}/rotate-secret`,
      headers: service.headers,
      payload: { graceSeconds: 2 },
    })
    expect(rotated.statusCode, rotated.body).toBe(200)
    const { secret } = rotated.json() as { secret: string; previousSecretExpiresAt: string }
    r.secrets = [hook.secret, secret]

    const during = (await fund(t, admin.headers, wallet.id, '1.00')).id
    await eventually(async () => r.delivered().some((req) => req.body.data.id === during), 'during the grace')
    const duringRequest = r.delivered().find((req) => req.body.data.id === during)!
    expect(duringRequest.verifiedWith.sort()).toEqual([hook.secret, secret].sort())

    await new Promise((resolve) => setTimeout(resolve, 2100))
    const after = (await fund(t, admin.headers, wallet.id, '1.00')).id
    await eventually(async () => r.delivered().some((req) => req.body.data.id === after), 'after the grace')
    const afterRequest = r.delivered().find((req) => req.body.data.id === after)!
    expect(afterRequest.verifiedWith).toEqual([secret])
    expect((await getWebhook(t, service.headers, hook.id)).previousSecretExpiresAt).toBeNull()
  })
})

async function eventIdOf(transactionId: string): Promise<string> {
  const row = await t.database.db
    .selectFrom('outbox')
    .select('id')
    .where('aggregate_id', '=', transactionId)
    .where('type', '=', 'transaction.posted')
    .executeTakeFirstOrThrow()
  return row.id
}
