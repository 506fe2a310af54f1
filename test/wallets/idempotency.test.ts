import type { LightMyRequestResponse } from 'fastify'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildApp } from '../../src/app.js'
import { createContainer } from '../../src/container.js'
import type { Db, Trx } from '../../src/db/database.js'
import type { App } from '../../src/http/app-type.js'
import type { WalletView } from '../../src/wallets/wallets.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import {
  type AuthHeaders,
  type CreatedApiKey,
  createApiKey,
  type SignedUpUser,
  signUp,
} from '../auth-fixtures.js'
import { expectLedgerConsistent, idempotencyKey } from '../ledger.js'
import { testShape } from '../shape.js'
import {
  deposit,
  eventually,
  fund,
  latch,
  openWallet,
  type Problem,
  storedBalance,
  transfer,
  withdraw,
} from './fixtures.js'

let t: TestApp
let alice: SignedUpUser
let bob: SignedUpUser
let admin: SignedUpUser
let service: CreatedApiKey

beforeAll(async () => {
  // Owners withdraw from their own wallets here, on both database shapes (SELF_DEPOSITS covers both ways).
  t = await createTestApp({ env: { SELF_DEPOSITS: 'true' } })
  ;[alice, bob, admin] = await Promise.all([signUp(t), signUp(t), signUp(t, { roles: ['admin'] })])
  service = await createApiKey(t, ['service'])
})
afterAll(() => t.close())

async function transactionsOf(walletId: string): Promise<number> {
  const row = await t.database.db
    .selectFrom('entries')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('account_id', '=', walletId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

function expectReplayOf(replay: LightMyRequestResponse, first: LightMyRequestResponse): void {
  expect(replay.statusCode).toBe(first.statusCode)
  expect(replay.headers['content-type']).toBe(first.headers['content-type'])
  expect(replay.body).toBe(first.body)
  // Answers are stored in the posting's own write, rendered before its instant was known: both
  // the first answer and the stored one carry the real createdAt.
  expect(first.body).not.toContain('0001-01-01')
  expect(replay.headers['idempotency-replayed']).toBe('true')
  expect(first.headers['idempotency-replayed']).toBeUndefined()
}

/**
 * Keeps the first request running while `during` runs, at the point where the request has claimed
 * its key and not yet finished.
 *
 * Embedded: PGlite is one connection and authentication reads the database, so a request that
 * holds a transaction would also keep the second request from authenticating. The first request is
 * held instead just before its database transaction begins (it has claimed the key in-process by
 * then), which leaves the database free for the second.
 * Services: the first request runs into a row lock on the wallet that another connection holds,
 * so it sits inside its transaction holding the key's advisory lock.
 */
async function whileFirstIsHeld(
  walletId: string,
  first: () => Promise<LightMyRequestResponse>,
  during: () => Promise<void>,
): Promise<LightMyRequestResponse> {
  if (testShape() === 'embedded') {
    const held = holdNextTransaction(t.database.db)
    try {
      const response = first()
      await held.started
      await during()
      held.release()
      return await response
    } finally {
      held.restore()
    }
  }
  const locked = latch()
  const release = latch()
  const holder = t.database.db.transaction().execute(async (trx) => {
    await sql`select id from accounts where id = ${walletId} for update`.execute(trx)
    locked.open()
    await release.promise
  })
  await locked.promise
  const response = first()
  await eventually(async () => {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'
    `.execute(t.database.db)
    return rows[0]!.n > 0
  }, 'the first request to wait on the wallet lock')
  try {
    await during()
  } finally {
    release.open()
    await holder
  }
  return response
}

/** Makes the next db.transaction() wait for release() before it touches the database. */
function holdNextTransaction(db: Db) {
  const started = latch()
  const release = latch()
  const realTransaction = db.transaction.bind(db)
  const spy = vi.spyOn(db, 'transaction').mockImplementationOnce(() => {
    const builder = realTransaction()
    const held = {
      execute: async <T>(work: (trx: Trx) => Promise<T>): Promise<T> => {
        started.open()
        await release.promise
        return builder.execute(work)
      },
    }
    return held as unknown as ReturnType<Db['transaction']>
  })
  return { started: started.promise, release: release.open, restore: () => spy.mockRestore() }
}

/** Fails instead of hanging if a request waits for another: a 409 must come at once. */
async function promptly(
  response: Promise<LightMyRequestResponse>,
  ms = 5_000,
): Promise<LightMyRequestResponse> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: the request is waiting`)), ms)
  })
  try {
    return await Promise.race([response, late])
  } finally {
    clearTimeout(timer)
  }
}

describe('Idempotency-Key', () => {
  let wallet: WalletView
  let other: WalletView

  beforeAll(async () => {
    ;[wallet, other] = await Promise.all([
      openWallet(t, alice.headers, 'USD'),
      openWallet(t, bob.headers, 'USD'),
    ])
  })

  it('is required on every money POST: 400 idempotency_key_required, and nothing moves', async () => {
    await fund(t, service.headers, wallet.id, '10.00')
    const before = await storedBalance(t, wallet.id)
    const withoutKey = (
      url: string,
      payload: Record<string, unknown>,
      headers: AuthHeaders = alice.headers,
    ) => t.app.inject({ method: 'POST', url, headers, payload })
    const badKey = (key: string) =>
      t.app.inject({
        method: 'POST',
        url: `/api/v1/wallets/${wallet.id}/deposits`,
        headers: { ...service.headers, 'idempotency-key': key },
        payload: { amount: '1.00' },
      })
    const responses = await Promise.all([
      withoutKey(`/api/v1/wallets/${wallet.id}/deposits`, { amount: '1.00' }, service.headers),
      withoutKey(`/api/v1/wallets/${wallet.id}/withdrawals`, { amount: '1.00' }),
      withoutKey('/api/v1/transfers', { fromWalletId: wallet.id, toWalletId: other.id, amount: '1.00' }),
      badKey(''),
      badKey('has a space'),
      badKey('k'.repeat(256)),
    ])
    for (const response of responses) {
      expect(response.statusCode, response.body).toBe(400)
      expect(response.json<Problem>().code).toBe('idempotency_key_required')
    }
    expect(await storedBalance(t, wallet.id)).toBe(before)
  })

  it('replays the first answer byte for byte to a retry with the same key and body; the money moves once', async () => {
    const key = idempotencyKey('retry')
    const before = await storedBalance(t, wallet.id)
    const first = await deposit(t, service.headers, wallet.id, '5.00', key)
    expect(first.statusCode, first.body).toBe(201)
    const retries = await Promise.all([
      deposit(t, service.headers, wallet.id, '5.00', key),
      deposit(t, service.headers, wallet.id, '5.00', key),
    ])
    for (const retry of retries) expectReplayOf(retry, first)
    // The body is compared as a request, not as text: the same members in another order are the same request.
    const reordered = await t.app.inject({
      method: 'POST',
      url: `/api/v1/wallets/${wallet.id}/deposits`,
      headers: { ...service.headers, 'idempotency-key': key, 'content-type': 'application/json' },
      payload: '{ "amount" : "5.00" }',
    })
    expectReplayOf(reordered, first)
    expect(await storedBalance(t, wallet.id)).toBe(before + 500n)

    const transferKey = idempotencyKey('retry-transfer')
    const body = { fromWalletId: wallet.id, toWalletId: other.id, amount: '2.00', description: 'rent' }
    const sent = await transfer(t, alice.headers, body, transferKey)
    expect(sent.statusCode, sent.body).toBe(201)
    expectReplayOf(await transfer(t, alice.headers, { ...body }, transferKey), sent)
    expect(await storedBalance(t, other.id)).toBe(200n)
    await expectLedgerConsistent(t.database.db)
  })

  it('refuses the same key with a different request: 422 idempotency_key_reused, and nothing moves', async () => {
    const key = idempotencyKey('reuse')
    expect((await deposit(t, service.headers, wallet.id, '1.00', key)).statusCode).toBe(201)
    const balance = await storedBalance(t, wallet.id)
    const entries = await transactionsOf(wallet.id)
    const otherWallet = await openWallet(t, admin.headers, 'USD')
    const responses = await Promise.all([
      deposit(t, service.headers, wallet.id, '1.01', key),
      deposit(t, service.headers, otherWallet.id, '1.00', key),
      withdraw(t, service.headers, wallet.id, '1.00', key),
    ])
    for (const response of responses) {
      expect(response.statusCode, response.body).toBe(422)
      expect(response.json<Problem>().code).toBe('idempotency_key_reused')
      expect(response.headers['idempotency-replayed']).toBeUndefined()
    }
    expect(await storedBalance(t, wallet.id)).toBe(balance)
    expect(await transactionsOf(wallet.id)).toBe(entries)
    expect(await storedBalance(t, otherWallet.id)).toBe(0n)
  })

  it('replays a stored insufficient_funds as the same 422 even after the wallet got the money', async () => {
    const poor = await openWallet(t, bob.headers, 'EUR')
    const key = idempotencyKey('refused')
    const refused = await withdraw(t, bob.headers, poor.id, '5.00', key)
    expect(refused.statusCode).toBe(422)
    expect(refused.json<Problem>()).toMatchObject({ code: 'insufficient_funds', available: '0.00' })
    await fund(t, service.headers, poor.id, '50.00')
    expectReplayOf(await withdraw(t, bob.headers, poor.id, '5.00', key), refused)
    expect(await storedBalance(t, poor.id)).toBe(5000n)
    // A new key is a new request, and now it goes through.
    expect((await withdraw(t, bob.headers, poor.id, '5.00')).statusCode).toBe(201)
  })

  it('scopes keys to the caller: the same key from two callers is two requests', async () => {
    const target = await openWallet(t, alice.headers, 'GBP')
    const key = idempotencyKey('shared')
    const [byAdmin, byService] = await Promise.all([
      deposit(t, admin.headers, target.id, '3.00', key),
      deposit(t, service.headers, target.id, '3.00', key),
    ])
    for (const response of [byAdmin, byService]) {
      expect(response.statusCode, response.body).toBe(201)
      expect(response.headers['idempotency-replayed']).toBeUndefined()
    }
    expect(byAdmin.json().id).not.toBe(byService.json().id)
    expect(await storedBalance(t, target.id)).toBe(600n)

    // Two users who happen to pick the same key for their own wallets are not confused either.
    const [aliceGbp, bobGbp] = [target, await openWallet(t, bob.headers, 'GBP')]
    await fund(t, service.headers, bobGbp.id, '10.00')
    const userKey = idempotencyKey('user-shared')
    const [fromAlice, fromBob] = await Promise.all([
      withdraw(t, alice.headers, aliceGbp.id, '1.00', userKey),
      withdraw(t, bob.headers, bobGbp.id, '1.00', userKey),
    ])
    expect([fromAlice.statusCode, fromBob.statusCode]).toEqual([201, 201])
    expect(await storedBalance(t, aliceGbp.id)).toBe(500n)
    expect(await storedBalance(t, bobGbp.id)).toBe(900n)
  })

  it('answers 409 idempotency_key_in_flight while the first request runs, then replays it', async () => {
    const target = await openWallet(t, alice.headers, 'CHF')
    const key = idempotencyKey('in-flight')
    let second: LightMyRequestResponse | undefined
    const first = await whileFirstIsHeld(
      target.id,
      () => deposit(t, service.headers, target.id, '4.00', key),
      async () => {
        second = await promptly(deposit(t, service.headers, target.id, '4.00', key))
      },
    )
    expect(second!.statusCode, second!.body).toBe(409)
    expect(second!.json<Problem>().code).toBe('idempotency_key_in_flight')
    expect(first.statusCode, first.body).toBe(201)
    expectReplayOf(await deposit(t, service.headers, target.id, '4.00', key), first)
    expect(await storedBalance(t, target.id)).toBe(400n)
    await expectLedgerConsistent(t.database.db)
  })

  it('answers 409 from another process on the same database while the first runs (advisory lock)', async () => {
    // Embedded has one process and one connection by design, so there is no second process to
    // ask; this case needs PostgreSQL and runs in the services shape only.
    if (testShape() !== 'services') return
    const containerB = await createContainer(t.container.config, t.container.logger, { database: t.database })
    let appB: App | undefined
    try {
      appB = await buildApp(containerB)
      await appB.ready()
      const target = await openWallet(t, alice.headers, 'JPY')
      const viaB = (key: string) =>
        appB!.inject({
          method: 'POST',
          url: `/api/v1/wallets/${target.id}/deposits`,
          headers: { ...service.headers, 'idempotency-key': key },
          payload: { amount: '6' },
        })
      const key = idempotencyKey('cross-process')
      let second: LightMyRequestResponse | undefined
      const first = await whileFirstIsHeld(
        target.id,
        () => deposit(t, service.headers, target.id, '6', key),
        async () => {
          second = await promptly(viaB(key))
        },
      )
      expect(second!.statusCode, second!.body).toBe(409)
      expect(second!.json<Problem>().code).toBe('idempotency_key_in_flight')
      expect(first.statusCode, first.body).toBe(201)
      expectReplayOf(await viaB(key), first)
      expect(await storedBalance(t, target.id)).toBe(6n)
    } finally {
      // The database belongs to the first app; closing containerB would close it twice.
      await appB?.close()
      await containerB.redis?.quit()
    }
  })

  it('forgets keys once purged, after which the same key is a new request', async () => {
    const target = await openWallet(t, bob.headers, 'AUD')
    const key = idempotencyKey('purged')
    const first = await deposit(t, service.headers, target.id, '1.00', key)
    expect(first.statusCode).toBe(201)
    expectReplayOf(await deposit(t, service.headers, target.id, '1.00', key), first)

    // Keys younger than the cutoff stay: a purge with a cutoff in the past leaves this one.
    await t.container.idempotency.purgeOlderThan(new Date(Date.now() - 60_000))
    expectReplayOf(await deposit(t, service.headers, target.id, '1.00', key), first)

    expect(await t.container.idempotency.purgeOlderThan(new Date(Date.now() + 1000))).toBeGreaterThan(0)
    const again = await deposit(t, service.headers, target.id, '1.00', key)
    expect(again.statusCode).toBe(201)
    expect(again.headers['idempotency-replayed']).toBeUndefined()
    expect(again.json().id).not.toBe(first.json().id)
    expect(await storedBalance(t, target.id)).toBe(200n)
    await expectLedgerConsistent(t.database.db)
  })
})
