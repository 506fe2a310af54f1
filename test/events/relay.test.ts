import { Writable } from 'node:stream'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventBus, EventEnvelope, Subscription } from '../../src/events/bus.js'
import { contractViolations, EVENT_TYPES } from '../../src/events/contracts.js'
import { outboxEvent } from '../../src/events/outbox.js'
import {
  OutboxRelay,
  purgePublishedEvents,
  RELAY_LOCK_NAME,
  type RelayOptions,
} from '../../src/events/relay.js'
import { releaseOverdueHolds } from '../../src/ledger/hold-expiry.js'
import { createLogger } from '../../src/logger.js'
import { insertOutboxEvents } from '../../src/wallets/wallets.repository.js'
import { workerJobs } from '../../src/worker/jobs.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { idempotencyKey } from '../ledger.js'
import { testShape } from '../shape.js'

let t: TestApp
let admin: SignedUpUser
let service: CreatedApiKey
const subscriptions: Subscription[] = []

beforeAll(async () => {
  t = await createTestApp({ env: { SELF_DEPOSITS: 'true' } })
  ;[admin] = await Promise.all([signUp(t, { roles: ['admin'] })])
  service = await createApiKey(t, ['service'])
})
afterAll(async () => {
  await Promise.all(subscriptions.map((s) => s.close()))
  await t.close()
})

type Caller = { headers: { authorization: string } }

async function post(caller: Caller, url: string, payload: Record<string, unknown> = {}) {
  const response = await t.app.inject({
    method: 'POST',
    url,
    headers: { ...caller.headers, 'idempotency-key': idempotencyKey('ev') },
    payload,
  })
  expect(response.statusCode, `${url}: ${response.body}`).toBeLessThan(300)
  return response.json()
}

async function walletOf(owner: SignedUpUser, currency: string): Promise<string> {
  const response = await t.app.inject({
    method: 'POST',
    url: '/api/v1/wallets',
    headers: owner.headers,
    payload: { currency },
  })
  expect(response.statusCode, response.body).toBe(201)
  return response.json().id
}

/** Everything the container's bus delivers from now on, to a subscriber of its own. */
async function collect(name: string, patterns = ['#']): Promise<EventEnvelope[]> {
  const received: EventEnvelope[] = []
  subscriptions.push(
    await t.container.bus.subscribe(`${name}-${Date.now()}`, patterns, async (event) => {
      received.push(event)
    }),
  )
  return received
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function outboxIds(): Promise<string[]> {
  const rows = await t.database.db.selectFrom('outbox').select('id').execute()
  return rows.map((r) => r.id)
}

async function unpublished(): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from outbox where published_at is null
  `.execute(t.database.db)
  return rows[0]!.n
}

/** Publishes the whole outbox, waits until `received` holds every event it published, returns their ids. */
async function relayAll(
  received: EventEnvelope[],
  relay: OutboxRelay = t.container.relay,
): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`select id from outbox where published_at is null`.execute(
    t.database.db,
  )
  const ids = rows.map((r) => r.id)
  await relay.run()
  expect(await unpublished()).toBe(0)
  await until(() => {
    const seen = new Set(received.map((e) => e.id))
    return ids.every((id) => seen.has(id))
  }, 'every outbox event')
  return ids
}

/** A relay like the container's (same leadership for the shape), with the test's own settings. */
function newRelay(options: Omit<RelayOptions, 'leadership'>): OutboxRelay {
  return new OutboxRelay({
    ...options,
    leadership: t.database.kind === 'pglite' ? 'this-process' : 'advisory-lock',
  })
}

/** The container's bus with another publish (a crash or an outage injected around the real one). */
function withPublish(bus: EventBus, publish: EventBus['publish']): EventBus {
  return {
    publish,
    subscribe: (name, patterns, handler) => bus.subscribe(name, patterns, handler),
    sendCommand: (type, body, options) => bus.sendCommand(type, body, options),
    consumeCommands: (handler, options) => bus.consumeCommands(handler, options),
    check: () => bus.check(),
    close: () => bus.close(),
  }
}

function counted(events: EventEnvelope[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const e of events) counts.set(e.id, (counts.get(e.id) ?? 0) + 1)
  return counts
}

/** Registered only on PostgreSQL, where the leader lock is an advisory lock between connections. */
const itOnPostgres = testShape() === 'services' ? it : () => undefined

describe('the outbox relay', () => {
  it('publishes every event type Coffer writes, each change once, each keeping its contract', async () => {
    const received = await collect('every-type')
    const alice = await signUp(t)
    const bob = await signUp(t)
    const aliceUsd = await walletOf(alice, 'USD')
    const aliceJpy = await walletOf(alice, 'JPY')
    const bobUsd = await walletOf(bob, 'USD')
    const idle = await walletOf(bob, 'EUR')

    await post(service, `/api/v1/wallets/${aliceUsd}/deposits`, { amount: '100.00' })
    await post(alice, `/api/v1/wallets/${aliceUsd}/withdrawals`, { amount: '1.00' })
    await post(alice, '/api/v1/transfers', { fromWalletId: aliceUsd, toWalletId: bobUsd, amount: '2.50' })
    const purchase = await post(alice, '/api/v1/purchases', {
      walletId: aliceUsd,
      merchant: 'shop-1',
      amount: '4.00',
    })
    await post(service, `/api/v1/transactions/${purchase.id}/reversal`, { amount: '1.00', reason: 'refund' })
    const captured = await post(alice, '/api/v1/holds', {
      walletId: aliceUsd,
      amount: '5.00',
      merchant: 'shop-1',
    })
    await post(service, `/api/v1/holds/${captured.id}/capture`, { amount: '3.00' })
    const voided = await post(alice, '/api/v1/holds', { walletId: aliceUsd, amount: '1.00' })
    await post(alice, `/api/v1/holds/${voided.id}/void`)
    await post(alice, '/api/v1/holds', {
      walletId: aliceUsd,
      amount: '1.00',
      expiresAt: new Date(Date.now() + 300).toISOString(),
    })
    const rate = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/fx-rates/USD/JPY',
      headers: admin.headers,
      payload: { rate: '151.237' },
    })
    expect(rate.statusCode, rate.body).toBeLessThan(300)
    await post(alice, '/api/v1/exchanges', { fromWalletId: aliceUsd, toWalletId: aliceJpy, amount: '10.00' })
    await post(admin, `/api/v1/wallets/${bobUsd}/freeze`)
    await post(admin, `/api/v1/wallets/${bobUsd}/unfreeze`)
    await post(admin, `/api/v1/wallets/${idle}/close`)
    const webhook = await post(service, '/api/v1/webhooks', {
      url: 'https://example.com/coffer',
      eventTypes: ['wallet.*'],
    })
    for (const change of [
      { method: 'PATCH' as const, payload: { description: 'wallets only' } },
      { method: 'DELETE' as const, payload: undefined },
    ]) {
      const response = await t.app.inject({
        method: change.method,
        url: `/api/v1/webhooks/${webhook.id}`,
        headers: service.headers,
        ...(change.payload ? { payload: change.payload } : {}),
      })
      expect(response.statusCode, response.body).toBeLessThan(300)
    }
    await new Promise((resolve) => setTimeout(resolve, 350))
    expect(await releaseOverdueHolds(t.database.db, t.container.ledger)).toBe(1)

    const ids = await relayAll(received)

    // Each outbox row exactly once (nothing failed, so nothing was published twice).
    const counts = counted(received)
    for (const id of ids) expect(counts.get(id), id).toBe(1)
    expect(received).toHaveLength(ids.length)
    for (const event of received) expect(contractViolations(event), event.type).toEqual([])
    const types = new Set(received.map((e) => e.type))
    // Operations come from the command path, a disabled webhook from failed deliveries, points
    // from the points routes, revocations from the auth routes: their tests (test/operations/,
    // test/webhooks/delivery.test.ts, test/points/events.test.ts,
    // test/auth/principal-cache.test.ts) check those events' contracts.
    const revocations: readonly string[] = ['api_key.revoked', 'session.revoked', 'access_token.revoked']
    const emittedByMovements = EVENT_TYPES.filter(
      (type) =>
        !type.startsWith('operation.') &&
        !type.startsWith('points.') &&
        type !== 'webhook.disabled' &&
        !revocations.includes(type),
    )
    expect([...types].sort()).toEqual([...emittedByMovements].sort())
    // Envelope: the outbox row with its commit time and contract version.
    const deposit = received.find((e) => e.type === 'transaction.posted' && e.data.type === 'deposit')!
    expect(deposit).toMatchObject({ version: 1, aggregate: { type: 'transaction', id: deposit.data.id } })
    expect(deposit.occurredAt).toBe(deposit.data.createdAt)
  })

  it('keeps the commit order of each wallet, under concurrent transfers and two relays', async () => {
    const received = await collect('order')
    const owners = await Promise.all([signUp(t), signUp(t), signUp(t)])
    const wallets = await Promise.all(owners.map((o) => walletOf(o, 'USD')))
    for (const w of wallets) await post(service, `/api/v1/wallets/${w}/deposits`, { amount: '100.00' })
    // Ids are made before the wallet locks, so writers of one wallet commit out of id order.
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        post(owners[i % 3]!, '/api/v1/transfers', {
          fromWalletId: wallets[i % 3],
          toWalletId: wallets[(i + 1) % 3],
          amount: `0.${String((i % 9) + 1).padStart(2, '0')}`,
        }),
      ),
    )
    // Two workers at once: one leads per batch, so nothing is published twice or out of order.
    const second = newRelay({
      db: t.database.db,
      bus: t.container.bus,
      logger: t.container.logger,
      batchSize: 7,
    })
    const first = newRelay({
      db: t.database.db,
      bus: t.container.bus,
      logger: t.container.logger,
      batchSize: 5,
    })
    await Promise.all([first.run(), second.run(), first.run(), second.run()])
    await relayAll(received, first)
    expect([...counted(received).values()].every((n) => n === 1)).toBe(true)

    for (const wallet of wallets) {
      const chain = received
        .filter((e) => e.type === 'transaction.posted')
        .flatMap((e) => e.data.entries as { walletId?: string; amount: string; balanceAfter: string }[])
        .filter((entry) => entry.walletId === wallet)
      expect(chain.length).toBeGreaterThan(40)
      // In commit order, each balance is the previous one plus the entry.
      let balance = 0
      for (const entry of chain) {
        balance = Math.round((balance + Number(entry.amount)) * 100) / 100
        expect(Number(entry.balanceAfter)).toBe(balance)
      }
    }
  })

  it('publishes in commit order, not in id order (ids are made before the wallet lock)', async () => {
    const received = await collect('seq')
    // Two writers of one wallet: the first to make its id commits second.
    const later = outboxEvent('wallet.frozen', { type: 'wallet', id: 'w-seq' }, { step: 2 })
    const earlier = outboxEvent('wallet.unfrozen', { type: 'wallet', id: 'w-seq' }, { step: 1 })
    expect(later.id < earlier.id).toBe(true)
    await t.database.db.transaction().execute((trx) => insertOutboxEvents(trx, [earlier]))
    await t.database.db.transaction().execute((trx) => insertOutboxEvents(trx, [later]))
    await relayAll(received)
    expect(received.filter((e) => e.aggregate.id === 'w-seq').map((e) => e.data.step)).toEqual([1, 2])
  })

  it('publishes again what a relay published but died before marking (consumers see the id twice)', async () => {
    const received = await collect('crash')
    const owner = await signUp(t)
    const wallet = await walletOf(owner, 'USD')
    await post(service, `/api/v1/wallets/${wallet}/deposits`, { amount: '5.00' })
    const pending = await sql<{ id: string }>`select id from outbox where published_at is null`.execute(
      t.database.db,
    )
    expect(pending.rows.length).toBeGreaterThan(0)

    // The bus confirmed, then the process died before the mark committed.
    const dying = withPublish(t.container.bus, async (events) => {
      await t.container.bus.publish(events)
      throw new Error('killed after the confirm')
    })
    const crashed = newRelay({
      db: t.database.db,
      bus: dying,
      logger: t.container.logger,
      batchSize: 500,
    })
    await crashed.run()
    expect(await unpublished()).toBe(pending.rows.length)

    await relayAll(received)
    const counts = counted(received)
    for (const { id } of pending.rows) expect(counts.get(id), id).toBe(2)
    expect(await unpublished()).toBe(0)
    // De-duplicating by id gives each event once.
    expect(new Set(received.map((e) => e.id)).size).toBe(counts.size)
  })

  it('logs a failing bus once per outage, keeps the events, and catches up when it is back', async () => {
    const lines: string[] = []
    const logger = createLogger(
      { LOG_LEVEL: 'info' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk))
          done()
        },
      }),
    )
    let down = true
    const flaky = withPublish(t.container.bus, (events) =>
      down ? Promise.reject(new Error('broker connection lost')) : t.container.bus.publish(events),
    )
    const relay = newRelay({
      db: t.database.db,
      bus: flaky,
      logger,
      batchSize: 500,
      backoffInitialMs: 1,
      backoffMaxMs: 2,
    })
    const received = await collect('outage')
    const owner = await signUp(t)
    const wallet = await walletOf(owner, 'USD')
    for (let i = 0; i < 3; i++) {
      // Writes go on during the outage.
      await post(service, `/api/v1/wallets/${wallet}/deposits`, { amount: '1.00' })
      await relay.run()
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    expect(await unpublished()).toBeGreaterThanOrEqual(4)
    const warnings = lines.filter((l) => l.includes('outbox relay cannot publish'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('broker connection lost')

    down = false
    await new Promise((resolve) => setTimeout(resolve, 5))
    await relayAll(received, relay)
    expect(lines.filter((l) => l.includes('outbox relay publishing again'))).toHaveLength(1)
    const deposits = received.filter(
      (e) =>
        e.type === 'transaction.posted' &&
        (e.data.entries as { walletId?: string }[]).some((entry) => entry.walletId === wallet),
    )
    expect(deposits).toHaveLength(3)
    expect(received.some((e) => e.type === 'wallet.created' && e.aggregate.id === wallet)).toBe(true)
  })

  it('lets a subscriber read the database while it handles an event (PGlite is one connection)', async () => {
    const seen: string[] = []
    subscriptions.push(
      await t.container.bus.subscribe(`reader-${Date.now()}`, ['wallet.created'], async (event) => {
        const row = await t.database.db
          .selectFrom('accounts')
          .select('status')
          .where('id', '=', event.aggregate.id)
          .executeTakeFirst()
        if (row) seen.push(event.aggregate.id)
      }),
    )
    const received = await collect('reader-done')
    const owner = await signUp(t)
    const wallet = await walletOf(owner, 'USD')
    const started = Date.now()
    await relayAll(received)
    expect(Date.now() - started).toBeLessThan(5000)
    await until(() => seen.includes(wallet), 'the reading subscriber')
  })

  it('gives up a publish that is not confirmed in time, keeping the rows for the next run', async () => {
    const hanging = withPublish(t.container.bus, () => new Promise<void>(() => {}))
    const relay = newRelay({
      db: t.database.db,
      bus: hanging,
      logger: t.container.logger,
      batchSize: 500,
      publishTimeoutMs: 50,
    })
    const received = await collect('timeout')
    const owner = await signUp(t)
    await walletOf(owner, 'USD')
    const started = Date.now()
    expect(await relay.run()).toBe(0)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(await unpublished()).toBe(1)
    await relayAll(received)
  })

  itOnPostgres('publishes nothing while another worker holds the leader lock', async () => {
    const received = await collect('leader')
    const owner = await signUp(t)
    await walletOf(owner, 'USD')
    let release!: () => void
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    let locked!: () => void
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve
    })
    const leader = t.database.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtextextended(${RELAY_LOCK_NAME}, 0))`.execute(trx)
      locked()
      await released
    })
    await isLocked
    expect(await t.container.relay.publishBatch()).toBe(0)
    expect(await unpublished()).toBe(1)
    release()
    await leader
    await relayAll(received)
  })

  it('is run by the worker job relay-outbox', async () => {
    const received = await collect('job')
    const owner = await signUp(t)
    const wallet = await walletOf(owner, 'USD')
    const job = workerJobs(t.container).find((j) => j.name === 'relay-outbox')!
    expect(job.intervalMs).toBe(t.container.config.OUTBOX_RELAY_INTERVAL_MS)
    await job.run()
    expect(await unpublished()).toBe(0)
    await until(() => received.some((e) => e.aggregate.id === wallet), 'wallet.created')
  })

  it('purges published events past OUTBOX_RETENTION_HOURS, and never an unpublished one', async () => {
    const received = await collect('purge')
    const owner = await signUp(t)
    const wallet = await walletOf(owner, 'USD')
    await relayAll(received)
    const old = received.find((e) => e.aggregate.id === wallet)!
    await sql`update outbox set published_at = now() - interval '73 hours' where id = ${old.id}`.execute(
      t.database.db,
    )
    // An old row that never went out stays, whatever its age.
    await post(service, `/api/v1/wallets/${wallet}/deposits`, { amount: '1.00' })
    await sql`update outbox set created_at = now() - interval '100 hours' where published_at is null`.execute(
      t.database.db,
    )
    const before = (await outboxIds()).length

    const purge = workerJobs(t.container).find((job) => job.name === 'purge-published-events')!
    await purge.run()
    const after = await outboxIds()
    expect(after).not.toContain(old.id)
    expect(after).toHaveLength(before - 1)
    expect(await unpublished()).toBe(1)
    expect(await purgePublishedEvents(t.database.db, new Date(Date.now() - 72 * 3_600_000))).toBe(0)
    await relayAll(received)
  })

  it('shows the backlog and the lag of the outbox in /health', async () => {
    const received = await collect('health')
    await relayAll(received)
    const owner = await signUp(t)
    await walletOf(owner, 'USD')
    await sql`update outbox set created_at = now() - interval '5 seconds' where published_at is null`.execute(
      t.database.db,
    )
    const health = async () => {
      const response = await t.app.inject({ method: 'GET', url: '/health' })
      expect(response.statusCode, response.body).toBe(200)
      return response.json().dependencies.find((d: { name: string }) => d.name === 'outbox')
    }
    const waiting = await health()
    expect(waiting).toMatchObject({ status: 'up', required: false, details: { backlog: 1 } })
    expect(waiting.details.lagSeconds).toBeGreaterThanOrEqual(5)

    await relayAll(received)
    expect((await health()).details).toEqual({ backlog: 0, lagSeconds: 0 })
  })
})
