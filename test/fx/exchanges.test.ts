import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../app.js'
import { type SignedUpUser, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent, idempotencyKey } from '../ledger.js'
import { deposit, post, putCurrency, putRate, systemBalance, walletBalance, walletOf } from './fixtures.js'

let t: TestApp
let alice: SignedUpUser
let bob: SignedUpUser
let admin: SignedUpUser
let aliceUsd: { id: string }
let aliceJpy: { id: string }

beforeAll(async () => {
  t = await createTestApp()
  ;[alice, bob, admin] = await Promise.all([signUp(t), signUp(t), signUp(t, { roles: ['admin'] })])
  aliceUsd = await walletOf(t, alice, 'USD')
  aliceJpy = await walletOf(t, alice, 'JPY')
  await deposit(t, admin, aliceUsd.id, '100.00')
  expect((await putRate(t, admin, 'USD', 'JPY', '151.237')).statusCode).toBe(201)
})
afterAll(() => t.close())

function exchange(user: SignedUpUser, payload: Record<string, unknown>, key = idempotencyKey('fx')) {
  return post(t, user, '/api/v1/exchanges', payload, key)
}

describe('POST /exchanges', () => {
  it('converts 10.00 USD to exactly 1512 JPY at 151.237 through the fx accounts, in one transaction', async () => {
    const fxUsdBefore = await systemBalance(t.database.db, 'fx', 'USD')
    const fxJpyBefore = await systemBalance(t.database.db, 'fx', 'JPY')
    const response = await exchange(alice, {
      fromWalletId: aliceUsd.id,
      toWalletId: aliceJpy.id,
      amount: '10.00',
    })
    expect(response.statusCode, response.body).toBe(201)
    const body = response.json()
    expect(body).toMatchObject({
      rate: '151.237',
      fromCurrency: 'USD',
      toCurrency: 'JPY',
      debited: '10.00',
      credited: '1512',
      quoteId: null,
    })
    expect(body.transaction).toMatchObject({
      type: 'exchange',
      currency: 'USD',
      amount: '10.00',
      metadata: { exchange: { rate: '151.237', quoteId: null } },
    })
    expect(body.transaction.entries).toEqual([
      { walletId: aliceUsd.id, currency: 'USD', amount: '-10.00', balanceAfter: '90.00' },
      { account: 'fx', currency: 'USD', amount: '10.00', balanceAfter: null },
      { account: 'fx', currency: 'JPY', amount: '-1512', balanceAfter: null },
      { walletId: aliceJpy.id, currency: 'JPY', amount: '1512', balanceAfter: '1512' },
    ])

    expect(await walletBalance(t, alice, aliceUsd.id)).toBe('90.00')
    expect(await walletBalance(t, alice, aliceJpy.id)).toBe('1512')
    expect((await systemBalance(t.database.db, 'fx', 'USD')) - fxUsdBefore).toBe(1000n)
    expect((await systemBalance(t.database.db, 'fx', 'JPY')) - fxJpyBefore).toBe(-1512n)
    const stored = await t.database.db
      .selectFrom('entries')
      .select('currency')
      .where('transaction_id', '=', body.transaction.id)
      .execute()
    expect(stored).toHaveLength(4)
    await expectLedgerConsistent(t.database.db)
  })

  it('writes transaction.posted and exchange.posted to the outbox with the posting', async () => {
    const response = await exchange(alice, {
      fromWalletId: aliceUsd.id,
      toWalletId: aliceJpy.id,
      amount: '1.00',
    })
    expect(response.statusCode, response.body).toBe(201)
    const transactionId = response.json().transaction.id
    const events = await t.database.db
      .selectFrom('outbox')
      .select(['type', 'aggregate_type', 'payload'])
      .where('aggregate_id', '=', transactionId)
      .execute()
    expect(events.map((e) => e.type).sort()).toEqual(['exchange.posted', 'transaction.posted'])
    expect(events.find((e) => e.type === 'exchange.posted')).toMatchObject({
      aggregate_type: 'transaction',
      payload: {
        transactionId,
        userId: alice.userId,
        fromWalletId: aliceUsd.id,
        toWalletId: aliceJpy.id,
        fromCurrency: 'USD',
        toCurrency: 'JPY',
        rate: '151.237',
        debited: '1.00',
        credited: '151',
        quoteId: null,
      },
    })
  })

  it('uses the rate in force at the time', async () => {
    await putRate(t, admin, 'USD', 'JPY', '150')
    try {
      const response = await exchange(alice, {
        fromWalletId: aliceUsd.id,
        toWalletId: aliceJpy.id,
        amount: '0.01',
      })
      expect(response.json()).toMatchObject({ rate: '150', credited: '1' })
    } finally {
      await putRate(t, admin, 'USD', 'JPY', '151.237')
    }
  })

  it('answers 422 fx_rate_not_found without a rate, and does not invert the opposite pair', async () => {
    const eur = await walletOf(t, alice, 'EUR')
    await deposit(t, admin, eur.id, '5.00')
    const gbp = await walletOf(t, alice, 'GBP')
    expect((await putRate(t, admin, 'GBP', 'EUR', '1.17')).statusCode).toBe(201)
    const response = await exchange(alice, { fromWalletId: eur.id, toWalletId: gbp.id, amount: '1.00' })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toMatchObject({ code: 'fx_rate_not_found', base: 'EUR', quote: 'GBP' })
    expect(await walletBalance(t, alice, eur.id)).toBe('5.00')
  })

  it('refuses the same currency on both sides with 422', async () => {
    const own = await exchange(alice, { fromWalletId: aliceUsd.id, toWalletId: aliceUsd.id, amount: '1.00' })
    expect(own.statusCode).toBe(422)
    expect(own.json().code).toBe('exchange_same_currency')
    const bobUsd = await walletOf(t, bob, 'USD')
    const across = await exchange(admin, { fromWalletId: aliceUsd.id, toWalletId: bobUsd.id, amount: '1.00' })
    expect(across.json().code).toBe('exchange_same_currency')
  })

  it('refuses with 422 an amount that converts to less than one unit of the target', async () => {
    const jpyToUsd = await putRate(t, admin, 'JPY', 'USD', '0.0066')
    expect(jpyToUsd.statusCode).toBe(201)
    const response = await exchange(alice, {
      fromWalletId: aliceJpy.id,
      toWalletId: aliceUsd.id,
      amount: '1',
    })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toMatchObject({
      code: 'exchange_amount_too_small',
      currency: 'USD',
      rate: '0.0066',
    })
    const enough = await exchange(alice, { fromWalletId: aliceJpy.id, toWalletId: aliceUsd.id, amount: '2' })
    expect(enough.json()).toMatchObject({ debited: '2', credited: '0.01' })
  })

  it('refuses more than the wallet holds with the engine’s insufficient_funds, moving nothing', async () => {
    const before = await walletBalance(t, alice, aliceUsd.id)
    const response = await exchange(alice, {
      fromWalletId: aliceUsd.id,
      toWalletId: aliceJpy.id,
      amount: '1000.00',
    })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toMatchObject({
      code: 'insufficient_funds',
      walletId: aliceUsd.id,
      currency: 'USD',
    })
    expect(await walletBalance(t, alice, aliceUsd.id)).toBe(before)
  })

  it('refuses with 422 an amount with more decimals than the source currency allows', async () => {
    for (const [from, to, amount] of [
      [aliceUsd.id, aliceJpy.id, '1.001'],
      [aliceJpy.id, aliceUsd.id, '1.5'],
    ] as const) {
      const response = await exchange(alice, { fromWalletId: from, toWalletId: to, amount })
      expect(response.statusCode, amount).toBe(422)
      expect(response.json()).toMatchObject({ code: 'invalid_amount', reason: 'too_precise' })
    }
  })

  it('needs the caller to own both wallets; admins may exchange any', async () => {
    const bobJpy = await walletOf(t, bob, 'JPY')
    const bobUsd = await walletOf(t, bob, 'USD')
    await deposit(t, admin, bobUsd.id, '10.00')
    const attempts = await Promise.all([
      exchange(bob, { fromWalletId: aliceUsd.id, toWalletId: aliceJpy.id, amount: '1.00' }),
      exchange(bob, { fromWalletId: aliceUsd.id, toWalletId: bobJpy.id, amount: '1.00' }),
      exchange(bob, { fromWalletId: bobUsd.id, toWalletId: aliceJpy.id, amount: '1.00' }),
    ])
    for (const response of attempts) {
      expect(response.statusCode, response.body).toBe(404)
      expect(response.json().code).toBe('wallet_not_found')
    }
    expect(await walletBalance(t, bob, bobUsd.id)).toBe('10.00')
    const byAdmin = await exchange(admin, { fromWalletId: bobUsd.id, toWalletId: bobJpy.id, amount: '1.00' })
    expect(byAdmin.statusCode, byAdmin.body).toBe(201)
    expect(await walletBalance(t, bob, bobJpy.id)).toBe('151')
  })

  it('needs an Idempotency-Key, and replays the first answer for the same key', async () => {
    const withoutKey = await t.app.inject({
      method: 'POST',
      url: '/api/v1/exchanges',
      headers: alice.headers,
      payload: { fromWalletId: aliceUsd.id, toWalletId: aliceJpy.id, amount: '1.00' },
    })
    expect(withoutKey.statusCode).toBe(400)
    expect(withoutKey.json().code).toBe('idempotency_key_required')

    const key = idempotencyKey('fx-replay')
    const payload = { fromWalletId: aliceUsd.id, toWalletId: aliceJpy.id, amount: '2.00' }
    const before = await walletBalance(t, alice, aliceUsd.id)
    const first = await exchange(alice, payload, key)
    const again = await exchange(alice, payload, key)
    expect(first.statusCode).toBe(201)
    expect(again.statusCode).toBe(201)
    expect(again.headers['idempotency-replayed']).toBe('true')
    expect(again.body).toBe(first.body)
    expect(BigInt((await walletBalance(t, alice, aliceUsd.id)).replace('.', ''))).toBe(
      BigInt(before.replace('.', '')) - 200n,
    )
  })

  it('exchanges a custom asset end to end: USDT with 6 decimals to USD', async () => {
    expect((await putCurrency(t, admin, 'USDT', { decimals: 6, name: 'Tether USD' })).statusCode).toBe(201)
    expect((await putRate(t, admin, 'USDT', 'USD', '0.9998')).statusCode).toBe(201)
    const usdt = await walletOf(t, alice, 'USDT')
    await deposit(t, admin, usdt.id, '1.123456')
    const usdBefore = await walletBalance(t, alice, aliceUsd.id)

    const tooPrecise = await exchange(alice, {
      fromWalletId: usdt.id,
      toWalletId: aliceUsd.id,
      amount: '1.1234567',
    })
    expect(tooPrecise.json()).toMatchObject({ code: 'invalid_amount', decimals: 6 })

    const response = await exchange(alice, {
      fromWalletId: usdt.id,
      toWalletId: aliceUsd.id,
      amount: '1.123456',
    })
    expect(response.statusCode, response.body).toBe(201)
    // 1.123456 × 0.9998 = 1.1232313088, rounded down to cents
    expect(response.json()).toMatchObject({ debited: '1.123456', credited: '1.12', fromCurrency: 'USDT' })
    expect(await walletBalance(t, alice, usdt.id)).toBe('0.000000')
    expect(BigInt((await walletBalance(t, alice, aliceUsd.id)).replace('.', ''))).toBe(
      BigInt(usdBefore.replace('.', '')) + 112n,
    )
    expect(await systemBalance(t.database.db, 'fx', 'USDT')).toBe(1_123_456n)
    await expectLedgerConsistent(t.database.db)
  })
})
