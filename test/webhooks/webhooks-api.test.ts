import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { openWallet } from '../wallets/fixtures.js'

// The subscription API only; deliveries are in delivery.test.ts.
let t: TestApp
let admin: SignedUpUser
let service: CreatedApiKey
let otherService: CreatedApiKey
let user: SignedUpUser

beforeAll(async () => {
  t = await createTestApp({ env: { WEBHOOK_ALLOW_LOCALHOST: 'false', WEBHOOK_SECRET_GRACE_HOURS: '2' } })
  admin = await signUp(t, { roles: ['admin'] })
  service = await createApiKey(t, ['service'])
  otherService = await createApiKey(t, ['service'])
  user = await signUp(t)
})
afterAll(() => t?.close())

const url = 'https://example.com/coffer-events'

function post(headers: Record<string, string>, path: string, payload?: Record<string, unknown>) {
  return t.app.inject({
    method: 'POST',
    url: `/api/v1${path}`,
    headers,
    ...(payload === undefined ? {} : { payload }),
  })
}
function get(headers: Record<string, string>, path: string) {
  return t.app.inject({ method: 'GET', url: `/api/v1${path}`, headers })
}
function patch(headers: Record<string, string>, path: string, payload: Record<string, unknown>) {
  return t.app.inject({ method: 'PATCH', url: `/api/v1${path}`, headers, payload })
}
function del(headers: Record<string, string>, path: string) {
  return t.app.inject({ method: 'DELETE', url: `/api/v1${path}`, headers })
}

async function outboxOf(id: string) {
  const { rows } = await sql<{ type: string; payload: Record<string, unknown> }>`
    select type, payload from outbox where aggregate_id = ${id} order by seq
  `.execute(t.database.db)
  return rows
}

describe('creating', () => {
  it('answers 201 with the view and the secret, which no later read shows', async () => {
    const created = await post(service.headers, '/webhooks', {
      url,
      eventTypes: ['transaction.posted', 'wallet.*'],
      description: 'ledger feed',
    })
    expect(created.statusCode, created.body).toBe(201)
    const body = created.json()
    expect(body).toMatchObject({
      url,
      eventTypes: ['transaction.posted', 'wallet.*'],
      walletId: null,
      userId: null,
      description: 'ledger feed',
      status: 'enabled',
      failing: false,
      consecutiveFailures: 0,
      disabledReason: null,
      previousSecretExpiresAt: null,
    })
    expect(body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/)
    expect(created.headers['cache-control']).toBe('no-store')

    const read = await get(service.headers, `/webhooks/${body.id}`)
    expect(read.statusCode).toBe(200)
    expect(read.json()).not.toHaveProperty('secret')
    expect(read.body).not.toContain(body.secret)
    const list = await get(service.headers, '/webhooks')
    expect(list.body).not.toContain(body.secret)

    const events = await outboxOf(body.id)
    expect(events.map((e) => e.type)).toEqual(['webhook.created'])
    expect(JSON.stringify(events)).not.toContain(body.secret)
    expect(events[0]!.payload).toMatchObject({ id: body.id, ownerId: service.id, url })
  })

  it('takes an admin too, and every type when eventTypes is omitted', async () => {
    const created = await post(admin.headers, '/webhooks', { url })
    expect(created.statusCode, created.body).toBe(201)
    expect(created.json().eventTypes).toEqual([])
  })

  it('refuses users with 403', async () => {
    const created = await post(user.headers, '/webhooks', { url })
    expect(created.statusCode).toBe(403)
    expect((await get(user.headers, '/webhooks')).statusCode).toBe(403)
  })

  it.each([
    ['http without WEBHOOK_ALLOW_LOCALHOST', 'http://localhost:8080/hook'],
    ['plain http elsewhere', 'http://example.com/hook'],
    ['a private address', 'https://10.0.0.5/hook'],
    ['loopback', 'https://127.0.0.1/hook'],
    ['the metadata address', 'https://169.254.169.254/latest/meta-data'],
    ['user info', 'https://user:pass@example.com/hook'],
    ['not a URL', 'example.com/hook'],
  ])('refuses %s with 422 webhook_url_refused', async (_, refused) => {
    const response = await post(service.headers, '/webhooks', { url: refused })
    expect(response.statusCode, response.body).toBe(422)
    expect(response.json()).toMatchObject({ code: 'webhook_url_refused' })
    expect(typeof response.json().reason).toBe('string')
  })

  it('refuses an event pattern that matches no type', async () => {
    for (const eventTypes of [['transaction.nope'], ['nothing.*'], ['wallet.created', 'walet.#']]) {
      const response = await post(service.headers, '/webhooks', { url, eventTypes })
      expect(response.statusCode, response.body).toBe(422)
      expect(response.json()).toMatchObject({ code: 'unknown_event_type' })
    }
    const ok = await post(service.headers, '/webhooks', { url, eventTypes: ['#', 'hold.*', '*.posted'] })
    expect(ok.statusCode, ok.body).toBe(201)
  })

  it('refuses an unknown wallet or user with 422, and takes known ones', async () => {
    const walletFilter = await post(service.headers, '/webhooks', { url, walletId: randomUUID() })
    expect(walletFilter.statusCode).toBe(422)
    expect(walletFilter.json()).toMatchObject({ code: 'webhook_filter_not_found', field: 'walletId' })
    const userFilter = await post(service.headers, '/webhooks', { url, userId: randomUUID() })
    expect(userFilter.statusCode).toBe(422)
    expect(userFilter.json()).toMatchObject({ code: 'webhook_filter_not_found', field: 'userId' })

    const wallet = await openWallet(t, user.headers, 'USD')
    const both = await post(service.headers, '/webhooks', { url, walletId: wallet.id, userId: user.userId })
    expect(both.statusCode, both.body).toBe(201)
    expect(both.json()).toMatchObject({ walletId: wallet.id, userId: user.userId })
  })

  it('answers malformed input with 400 and changes nothing', async () => {
    const before = await t.database.db.selectFrom('webhook_subscriptions').select('id').execute()
    for (const payload of [
      {},
      { url: 42 },
      { url, eventTypes: 'wallet.*' },
      { url, walletId: 'not-a-uuid' },
      { url, unknown: true },
    ]) {
      const response = await post(service.headers, '/webhooks', payload)
      expect(response.statusCode, JSON.stringify(payload)).toBe(400)
      expect(response.headers['content-type']).toContain('application/problem+json')
    }
    const after = await t.database.db.selectFrom('webhook_subscriptions').select('id').execute()
    expect(after.length).toBe(before.length)
  })
})

describe('who sees what', () => {
  it('a service sees only its own, an admin every one, someone else is 404', async () => {
    const mine = (await post(service.headers, '/webhooks', { url })).json()
    const theirs = (await post(otherService.headers, '/webhooks', { url })).json()

    const myList = (await get(service.headers, '/webhooks?limit=500')).json().items as { id: string }[]
    expect(myList.map((w) => w.id)).toContain(mine.id)
    expect(myList.map((w) => w.id)).not.toContain(theirs.id)
    const adminList = (await get(admin.headers, '/webhooks?limit=500')).json().items as { id: string }[]
    expect(adminList.map((w) => w.id)).toEqual(expect.arrayContaining([mine.id, theirs.id]))

    for (const response of [
      await get(service.headers, `/webhooks/${theirs.id}`),
      await patch(service.headers, `/webhooks/${theirs.id}`, { description: 'mine now' }),
      await del(service.headers, `/webhooks/${theirs.id}`),
      await post(service.headers, `/webhooks/${theirs.id}/rotate-secret`, {}),
      await get(service.headers, `/webhooks/${theirs.id}/deliveries`),
      await post(service.headers, `/webhooks/${theirs.id}/replay`, {
        from: '2020-01-01T00:00:00Z',
        to: '2030-01-01T00:00:00Z',
      }),
    ]) {
      expect(response.statusCode, response.body).toBe(404)
      expect(response.json()).toMatchObject({ code: 'webhook_not_found' })
    }
    expect((await get(admin.headers, `/webhooks/${theirs.id}`)).statusCode).toBe(200)
    expect((await get(otherService.headers, `/webhooks/${theirs.id}`)).json().description).toBeNull()
  })

  it('lists newest first, in pages', async () => {
    const owner = await createApiKey(t, ['service'])
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await post(owner.headers, '/webhooks', { url })).json().id)
    const first = (await get(owner.headers, '/webhooks?limit=2')).json()
    expect(first.items.map((w: { id: string }) => w.id)).toEqual([ids[4], ids[3]])
    const second = (await get(owner.headers, `/webhooks?limit=2&cursor=${first.nextCursor}`)).json()
    expect(second.items.map((w: { id: string }) => w.id)).toEqual([ids[2], ids[1]])
    const third = (await get(owner.headers, `/webhooks?limit=2&cursor=${second.nextCursor}`)).json()
    expect(third.items.map((w: { id: string }) => w.id)).toEqual([ids[0]])
    expect(third.nextCursor).toBeNull()
    expect((await get(owner.headers, '/webhooks?cursor=bm9wZQ')).json().code).toBe('invalid_cursor')
  })
})

describe('changing', () => {
  it('patches fields, clears a filter with null, and writes webhook.updated', async () => {
    const wallet = await openWallet(t, user.headers, 'EUR')
    const created = (await post(service.headers, '/webhooks', { url, walletId: wallet.id })).json()
    const changed = await patch(service.headers, `/webhooks/${created.id}`, {
      url: 'https://example.org/other',
      eventTypes: ['hold.*'],
      description: 'holds only',
    })
    expect(changed.statusCode, changed.body).toBe(200)
    expect(changed.json()).toMatchObject({
      url: 'https://example.org/other',
      eventTypes: ['hold.*'],
      walletId: wallet.id,
      description: 'holds only',
    })
    const cleared = await patch(service.headers, `/webhooks/${created.id}`, {
      walletId: null,
      description: null,
    })
    expect(cleared.json()).toMatchObject({ walletId: null, description: null })
    expect((await outboxOf(created.id)).map((e) => e.type)).toEqual([
      'webhook.created',
      'webhook.updated',
      'webhook.updated',
    ])
  })

  it('refuses a bad URL, pattern or wallet on patch, changing nothing', async () => {
    const created = (await post(service.headers, '/webhooks', { url })).json()
    for (const [payload, code] of [
      [{ url: 'http://example.com/' }, 'webhook_url_refused'],
      [{ eventTypes: ['nope'] }, 'unknown_event_type'],
      [{ walletId: randomUUID() }, 'webhook_filter_not_found'],
    ] as const) {
      const response = await patch(service.headers, `/webhooks/${created.id}`, payload)
      expect(response.statusCode, response.body).toBe(422)
      expect(response.json().code).toBe(code)
    }
    expect((await patch(service.headers, `/webhooks/${created.id}`, { enabled: 'yes' })).statusCode).toBe(400)
    const read = (await get(service.headers, `/webhooks/${created.id}`)).json()
    expect(read).toMatchObject({ url, eventTypes: [], walletId: null, status: 'enabled' })
  })

  it('disables and enables; enabling resets the failure count', async () => {
    const created = (await post(service.headers, '/webhooks', { url })).json()
    await t.database.db
      .updateTable('webhook_subscriptions')
      .set({ consecutive_failures: 4 })
      .where('id', '=', created.id)
      .execute()
    const disabled = (await patch(service.headers, `/webhooks/${created.id}`, { enabled: false })).json()
    expect(disabled).toMatchObject({ status: 'disabled', failing: true, consecutiveFailures: 4 })
    expect(disabled.disabledReason).toEqual(expect.any(String))
    const enabled = (await patch(service.headers, `/webhooks/${created.id}`, { enabled: true })).json()
    expect(enabled).toMatchObject({
      status: 'enabled',
      failing: false,
      consecutiveFailures: 0,
      disabledReason: null,
    })
  })

  it('rotates the secret, showing the new one once, with the grace period', async () => {
    const created = (await post(service.headers, '/webhooks', { url })).json()
    const rotated = await post(service.headers, `/webhooks/${created.id}/rotate-secret`, {})
    expect(rotated.statusCode, rotated.body).toBe(200)
    const { secret, previousSecretExpiresAt } = rotated.json()
    expect(secret).toMatch(/^whsec_/)
    expect(secret).not.toBe(created.secret)
    const graceMs = new Date(previousSecretExpiresAt).getTime() - Date.now()
    expect(graceMs).toBeGreaterThan(2 * 3600_000 - 60_000)
    expect(graceMs).toBeLessThanOrEqual(2 * 3600_000)
    const read = await get(service.headers, `/webhooks/${created.id}`)
    expect(read.json().previousSecretExpiresAt).toBe(previousSecretExpiresAt)
    expect(read.body).not.toContain(secret)

    const bodiless = await post(service.headers, `/webhooks/${created.id}/rotate-secret`)
    expect(bodiless.statusCode, bodiless.body).toBe(200)
    const custom = (
      await post(service.headers, `/webhooks/${created.id}/rotate-secret`, { graceSeconds: 60 })
    ).json()
    expect(new Date(custom.previousSecretExpiresAt).getTime() - Date.now()).toBeLessThanOrEqual(60_000)
    expect(
      (await post(service.headers, `/webhooks/${created.id}/rotate-secret`, { graceSeconds: -1 })).statusCode,
    ).toBe(400)
    expect(JSON.stringify(await outboxOf(created.id))).not.toContain(secret)
  })

  it('deletes: 204, later 404, webhook.deleted in the outbox, pending deliveries cancelled', async () => {
    const created = (await post(service.headers, '/webhooks', { url })).json()
    await t.database.db
      .insertInto('webhook_deliveries')
      .values({
        id: randomUUID(),
        subscription_id: created.id,
        event_id: randomUUID(),
        event_type: 'wallet.created',
        order_keys: ['x'],
        payload: '{}',
        occurred_at: new Date(),
      })
      .execute()
    const deleted = await del(service.headers, `/webhooks/${created.id}`)
    expect(deleted.statusCode, deleted.body).toBe(204)
    expect((await get(service.headers, `/webhooks/${created.id}`)).statusCode).toBe(404)
    expect((await del(service.headers, `/webhooks/${created.id}`)).statusCode).toBe(404)
    expect((await get(admin.headers, `/webhooks/${created.id}`)).statusCode).toBe(404)
    expect((await outboxOf(created.id)).map((e) => e.type)).toEqual(['webhook.created', 'webhook.deleted'])
    const deliveries = await t.database.db
      .selectFrom('webhook_deliveries')
      .select('status')
      .where('subscription_id', '=', created.id)
      .execute()
    expect(deliveries).toEqual([{ status: 'cancelled' }])
  })
})

describe('replay and the log, as input', () => {
  it('refuses a range whose from is not before to, and unknown deliveries', async () => {
    const created = (await post(service.headers, '/webhooks', { url })).json()
    const backwards = await post(service.headers, `/webhooks/${created.id}/replay`, {
      from: '2026-01-02T00:00:00Z',
      to: '2026-01-01T00:00:00Z',
    })
    expect(backwards.statusCode).toBe(422)
    expect(backwards.json().code).toBe('invalid_replay_range')
    expect(
      (await post(service.headers, `/webhooks/${created.id}/replay`, { from: 'yesterday', to: 'now' }))
        .statusCode,
    ).toBe(400)
    const unknown = await post(service.headers, `/webhooks/${created.id}/deliveries/${randomUUID()}/replay`)
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json().code).toBe('webhook_delivery_not_found')
    expect(
      (await get(service.headers, `/webhooks/${created.id}/deliveries/${randomUUID()}`)).statusCode,
    ).toBe(404)
    expect((await get(service.headers, `/webhooks/${created.id}/deliveries?status=lost`)).statusCode).toBe(
      400,
    )
    expect((await get(service.headers, `/webhooks/${created.id}/deliveries`)).json()).toEqual({
      items: [],
      nextCursor: null,
    })
  })
})
