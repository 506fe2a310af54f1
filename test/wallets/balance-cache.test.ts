import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { releaseOverdueHolds } from '../../src/ledger/hold-expiry.js'
import { MemoryBalanceCache, RedisBalanceCache } from '../../src/wallets/balance-cache.js'
import { findWallet } from '../../src/wallets/wallets.repository.js'
import type { WalletView } from '../../src/wallets/wallets.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import {
  type AuthHeaders,
  type CreatedApiKey,
  createApiKey,
  type SignedUpUser,
  signUp,
} from '../auth-fixtures.js'
import { idempotencyKey } from '../ledger.js'
import { testShape } from '../shape.js'
import { eventually, fund, openWallet } from './fixtures.js'

let t: TestApp
let service: CreatedApiKey
let admin: CreatedApiKey
let owner: SignedUpUser

beforeAll(async () => {
  t = await createTestApp()
  ;[service, admin, owner] = await Promise.all([
    createApiKey(t, ['service']),
    createApiKey(t, ['admin']),
    signUp(t),
  ])
})
afterAll(() => t.close())

function post(app: TestApp, headers: AuthHeaders, url: string, payload: Record<string, unknown> = {}) {
  return app.app.inject({
    method: 'POST',
    url,
    headers: { ...headers, 'idempotency-key': idempotencyKey() },
    payload,
  })
}

function read(app: TestApp, headers: AuthHeaders, url: string): Promise<LightMyRequestResponse> {
  return app.app.inject({ method: 'GET', url, headers })
}

/** The body GET /wallets/{id} must answer: the database row, rendered as the API renders it. */
async function databaseBody(app: TestApp, walletId: string): Promise<string> {
  const row = await findWallet(app.database.db, walletId)
  return JSON.stringify(app.container.wallets.walletView(row!))
}

async function databaseVersion(app: TestApp, walletId: string): Promise<bigint> {
  return (await findWallet(app.database.db, walletId))!.version
}

/** Both current reads agree with the database, and the cache holds the database's version. */
async function expectCurrent(app: TestApp, headers: AuthHeaders, walletId: string): Promise<void> {
  const cache = app.container.balanceCache!
  expect((await cache.get(walletId))?.version, 'the cached version').toBe(
    await databaseVersion(app, walletId),
  )
  const wallet = await read(app, headers, `/api/v1/wallets/${walletId}`)
  expect(wallet.statusCode, wallet.body).toBe(200)
  expect(wallet.body).toBe(await databaseBody(app, walletId))
  const balance = await read(app, headers, `/api/v1/wallets/${walletId}/balance`)
  expect(balance.statusCode, balance.body).toBe(200)
  expect(balance.json().balance).toBe(wallet.json<WalletView>().balance)
}

describe('the balance cache', () => {
  it('is Redis in the services shape and in memory on the embedded database', () => {
    const expected = testShape() === 'services' ? RedisBalanceCache : MemoryBalanceCache
    expect(t.container.balanceCache).toBeInstanceOf(expected)
  })

  it('shows each write to the next read: deposit, withdrawal, transfer, hold, capture, void, freeze', async () => {
    const from = await openWallet(t, owner.headers, 'USD')
    const to = await openWallet(t, admin.headers, 'USD', randomUUID())
    await fund(t, service.headers, from.id, '100.00')
    let heldForCapture = ''
    let heldForVoid = ''
    const steps: [string, () => Promise<LightMyRequestResponse>][] = [
      ['deposit', () => post(t, service.headers, `/api/v1/wallets/${from.id}/deposits`, { amount: '5.00' })],
      [
        'withdrawal',
        () => post(t, service.headers, `/api/v1/wallets/${from.id}/withdrawals`, { amount: '2.00' }),
      ],
      [
        'transfer',
        () =>
          post(t, owner.headers, '/api/v1/transfers', {
            fromWalletId: from.id,
            toWalletId: to.id,
            amount: '3.00',
          }),
      ],
      [
        'hold',
        async () => {
          const response = await post(t, owner.headers, '/api/v1/holds', {
            walletId: from.id,
            amount: '10.00',
            merchant: 'shop',
          })
          heldForCapture = response.json().id
          return response
        },
      ],
      [
        'capture',
        () => post(t, service.headers, `/api/v1/holds/${heldForCapture}/capture`, { amount: '4.00' }),
      ],
      [
        'second hold',
        async () => {
          const response = await post(t, owner.headers, '/api/v1/holds', {
            walletId: from.id,
            amount: '7.00',
          })
          heldForVoid = response.json().id
          return response
        },
      ],
      ['void', () => post(t, owner.headers, `/api/v1/holds/${heldForVoid}/void`)],
      ['freeze', () => post(t, admin.headers, `/api/v1/wallets/${from.id}/freeze`)],
      ['unfreeze', () => post(t, admin.headers, `/api/v1/wallets/${from.id}/unfreeze`)],
    ]
    for (const [name, step] of steps) {
      // Read first, so the cache holds the state before the write: a write that did not reach the
      // cache would be answered with that older state.
      expect((await read(t, owner.headers, `/api/v1/wallets/${from.id}`)).statusCode).toBe(200)
      expect((await read(t, admin.headers, `/api/v1/wallets/${to.id}`)).statusCode).toBe(200)
      const before = await databaseVersion(t, from.id)
      const response = await step()
      expect(response.statusCode, `${name}: ${response.body}`).toBeOneOf([200, 201])
      expect(await databaseVersion(t, from.id), name).toBeGreaterThan(before)
      await expectCurrent(t, owner.headers, from.id)
      await expectCurrent(t, admin.headers, to.id)
    }
  })

  it('answers from the cache when it has the wallet, and only to whom may see it', async () => {
    const wallet = await openWallet(t, owner.headers, 'EUR')
    await fund(t, service.headers, wallet.id, '1.00')
    const cache = t.container.balanceCache!
    const cached = (await cache.get(wallet.id))!
    // A newer version than the database's, with a balance no posting made: only a read served
    // from the cache can show it.
    await cache.put([{ ...cached, version: cached.version + 1n, balance: 4242n }])
    const served = await read(t, owner.headers, `/api/v1/wallets/${wallet.id}`)
    expect(served.json<WalletView>().balance).toBe('42.42')
    expect((await read(t, owner.headers, `/api/v1/wallets/${wallet.id}/balance`)).json().balance).toBe(
      '42.42',
    )
    const stranger = await signUp(t)
    expect((await read(t, stranger.headers, `/api/v1/wallets/${wallet.id}`)).statusCode).toBe(404)
    expect((await read(t, stranger.headers, `/api/v1/wallets/${wallet.id}/balance`)).statusCode).toBe(404)
    expect((await read(t, admin.headers, `/api/v1/wallets/${wallet.id}`)).statusCode).toBe(200)
  })

  it('never lets an older version replace a newer entry', async () => {
    const wallet = await openWallet(t, owner.headers, 'GBP')
    await fund(t, service.headers, wallet.id, '1.00')
    await fund(t, service.headers, wallet.id, '2.00')
    const cache = t.container.balanceCache!
    const newest = (await cache.get(wallet.id))!
    expect(newest.version).toBe(await databaseVersion(t, wallet.id))
    await cache.put([{ ...newest, version: newest.version - 1n, balance: 100n }])
    expect((await cache.get(wallet.id))?.balance).toBe(300n)
    await expectCurrent(t, owner.headers, wallet.id)
  })

  it('releases an overdue hold of a cached wallet on read', async () => {
    const wallet = await openWallet(t, owner.headers, 'CHF')
    await fund(t, service.headers, wallet.id, '10.00')
    const expiresAt = Date.now() + 1500
    const hold = await post(t, owner.headers, '/api/v1/holds', {
      walletId: wallet.id,
      amount: '4.00',
      expiresAt: new Date(expiresAt).toISOString(),
    })
    expect(hold.statusCode, hold.body).toBe(201)
    const held = await read(t, owner.headers, `/api/v1/wallets/${wallet.id}`)
    expect(held.json<WalletView>().available).toBe('6.00')
    // Read from the database, so the entry now knows when the hold runs out and may be served.
    expect((await t.container.balanceCache!.get(wallet.id))?.holdsExpireAt).toEqual(new Date(expiresAt))
    await eventually(async () => Date.now() > expiresAt + 50, 'the hold to run out')
    const released = await read(t, owner.headers, `/api/v1/wallets/${wallet.id}`)
    expect(released.json<WalletView>()).toMatchObject({ available: '10.00', pending: '0.00' })
    await expectCurrent(t, owner.headers, wallet.id)
  })

  it('is told at once of a hold the worker releases', async () => {
    const wallet = await openWallet(t, owner.headers, 'SEK')
    await fund(t, service.headers, wallet.id, '10.00')
    const expiresAt = Date.now() + 1200
    await post(t, owner.headers, '/api/v1/holds', {
      walletId: wallet.id,
      amount: '1.00',
      expiresAt: new Date(expiresAt).toISOString(),
    })
    await read(t, owner.headers, `/api/v1/wallets/${wallet.id}`)
    await eventually(async () => Date.now() > expiresAt + 50, 'the hold to run out')
    expect(await releaseOverdueHolds(t.database.db, t.container.ledger)).toBeGreaterThanOrEqual(1)
    // Straight from the cache: a read would release the hold itself.
    const cached = await t.container.balanceCache!.get(wallet.id)
    expect(cached?.pending).toBe(0n)
    expect(cached?.version).toBe(await databaseVersion(t, wallet.id))
  })

  it('forgets a wallet after BALANCE_CACHE_TTL_SECONDS', async () => {
    const short = await createTestApp({ env: { BALANCE_CACHE_TTL_SECONDS: '1' } })
    try {
      const key = await createApiKey(short, ['service'])
      const wallet = await openWallet(short, key.headers, 'USD', randomUUID())
      await fund(short, key.headers, wallet.id, '1.00')
      expect(await short.container.balanceCache!.get(wallet.id)).not.toBeNull()
      const written = Date.now()
      await eventually(
        async () => (await short.container.balanceCache!.get(wallet.id)) === null,
        'the TTL',
        5000,
      )
      expect(Date.now() - written).toBeGreaterThanOrEqual(900)
    } finally {
      await short.close()
    }
  })

  it('answers the same bodies with BALANCE_CACHE=off', async () => {
    const off = await createTestApp({ env: { BALANCE_CACHE: 'off' } })
    try {
      expect(off.container.balanceCache).toBeNull()
      const key = await createApiKey(off, ['service'])
      const wallet = await openWallet(off, key.headers, 'USD', randomUUID())
      await fund(off, key.headers, wallet.id, '12.34')
      await post(off, key.headers, '/api/v1/holds', { walletId: wallet.id, amount: '1.00' })
      const body = (await read(off, key.headers, `/api/v1/wallets/${wallet.id}`)).body
      expect(body).toBe(await databaseBody(off, wallet.id))
      const balance = (await read(off, key.headers, `/api/v1/wallets/${wallet.id}/balance`)).json()
      expect(Object.keys(balance)).toEqual(['walletId', 'currency', 'balance', 'at'])
      expect(balance.balance).toBe('12.34')
    } finally {
      await off.close()
    }
    // And with the cache on, a hit renders exactly the database row (checked byte for byte above).
    const wallet = await openWallet(t, owner.headers, 'NOK')
    await fund(t, service.headers, wallet.id, '12.34')
    await post(t, owner.headers, '/api/v1/holds', { walletId: wallet.id, amount: '1.00' })
    await read(t, owner.headers, `/api/v1/wallets/${wallet.id}`)
    await expectCurrent(t, owner.headers, wallet.id)
  })
})

type Op =
  | { kind: 'deposit' | 'withdrawal' | 'hold'; wallet: number; minor: number }
  | { kind: 'transfer'; from: number; to: number; minor: number }
  | { kind: 'void' | 'capture'; hold: number }
  | { kind: 'freeze' | 'unfreeze' | 'read'; wallet: number }

const WALLETS = 3

function opArbitrary(): fc.Arbitrary<Op> {
  const wallet = fc.integer({ min: 0, max: WALLETS - 1 })
  const minor = fc.integer({ min: 1, max: 5_000 })
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('deposit' as const), wallet, minor }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('withdrawal' as const), wallet, minor }) },
    {
      weight: 3,
      arbitrary: fc
        .record({ from: wallet, to: wallet, minor })
        .filter((op) => op.from !== op.to)
        .map((op) => ({ kind: 'transfer' as const, ...op })),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('hold' as const), wallet, minor }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('void' as const), hold: fc.nat(20) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('capture' as const), hold: fc.nat(20) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('freeze' as const), wallet }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('unfreeze' as const), wallet }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), wallet }) },
  )
}

describe('concurrent writes and reads', () => {
  it('leave every wallet read equal to its database row once they settle', async () => {
    const amount = (minor: number) => (minor / 100).toFixed(2)
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(opArbitrary(), { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 4 }),
        async (bursts) => {
          const wallets = await Promise.all(
            Array.from({ length: WALLETS }, () => openWallet(t, service.headers, 'USD', randomUUID())),
          )
          for (const wallet of wallets) await fund(t, service.headers, wallet.id, '50.00')
          const holds: string[] = []
          const apply = async (op: Op): Promise<void> => {
            switch (op.kind) {
              case 'deposit':
              case 'withdrawal':
                await post(t, service.headers, `/api/v1/wallets/${wallets[op.wallet]!.id}/${op.kind}s`, {
                  amount: amount(op.minor),
                })
                return
              case 'transfer':
                await post(t, service.headers, '/api/v1/transfers', {
                  fromWalletId: wallets[op.from]!.id,
                  toWalletId: wallets[op.to]!.id,
                  amount: amount(op.minor),
                })
                return
              case 'hold': {
                const response = await post(t, service.headers, '/api/v1/holds', {
                  walletId: wallets[op.wallet]!.id,
                  amount: amount(op.minor),
                  merchant: 'shop',
                })
                if (response.statusCode === 201) holds.push(response.json().id)
                return
              }
              case 'void':
              case 'capture': {
                const hold = holds[op.hold % Math.max(holds.length, 1)]
                if (hold) await post(t, service.headers, `/api/v1/holds/${hold}/${op.kind}`)
                return
              }
              case 'freeze':
              case 'unfreeze':
                await post(t, admin.headers, `/api/v1/wallets/${wallets[op.wallet]!.id}/${op.kind}`)
                return
              case 'read':
                await read(t, service.headers, `/api/v1/wallets/${wallets[op.wallet]!.id}`)
                return
            }
          }
          for (const burst of bursts) await Promise.all(burst.map(apply))
          for (const wallet of wallets) {
            const body = (await read(t, service.headers, `/api/v1/wallets/${wallet.id}`)).body
            expect(body).toBe(await databaseBody(t, wallet.id))
            const balance = (await read(t, service.headers, `/api/v1/wallets/${wallet.id}/balance`)).json()
            expect(balance.balance).toBe(JSON.parse(body).balance)
          }
        },
      ),
      { numRuns: 15 },
    )
  })
})
