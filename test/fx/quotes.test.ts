import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../app.js'
import { type SignedUpUser, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent, idempotencyKey } from '../ledger.js'
import { deposit, post, putRate, walletBalance, walletOf } from './fixtures.js'

let t: TestApp
let alice: SignedUpUser
let bob: SignedUpUser
let admin: SignedUpUser
let aliceUsd: { id: string }
let aliceJpy: { id: string }
let aliceEur: { id: string }

beforeAll(async () => {
  t = await createTestApp()
  ;[alice, bob, admin] = await Promise.all([signUp(t), signUp(t), signUp(t, { roles: ['admin'] })])
  aliceUsd = await walletOf(t, alice, 'USD')
  aliceJpy = await walletOf(t, alice, 'JPY')
  aliceEur = await walletOf(t, alice, 'EUR')
  await deposit(t, admin, aliceUsd.id, '1000.00')
  expect((await putRate(t, admin, 'USD', 'JPY', '151.237')).statusCode).toBe(201)
  expect((await putRate(t, admin, 'USD', 'EUR', '0.92')).statusCode).toBe(201)
})
afterAll(() => t.close())

function quote(user: SignedUpUser, payload: Record<string, unknown>) {
  return t.app.inject({ method: 'POST', url: '/api/v1/fx-quotes', headers: user.headers, payload })
}

async function quoteId(user: SignedUpUser, payload: Record<string, unknown>): Promise<string> {
  const response = await quote(user, payload)
  expect(response.statusCode, response.body).toBe(201)
  return response.json().id
}

function exchange(user: SignedUpUser, payload: Record<string, unknown>, key = idempotencyKey('quote')) {
  return post(t, user, '/api/v1/exchanges', payload, key)
}

describe('POST /fx-quotes', () => {
  it('quotes the current rate, debited and credited amounts, valid 30 seconds', async () => {
    const before = Date.now()
    const response = await quote(alice, { from: 'usd', to: 'jpy', amount: '10.00' })
    expect(response.statusCode, response.body).toBe(201)
    const body = response.json()
    expect(body).toMatchObject({
      from: 'USD',
      to: 'JPY',
      rate: '151.237',
      debited: '10.00',
      credited: '1512',
    })
    const expiresIn = Date.parse(body.expiresAt) - before
    expect(expiresIn).toBeGreaterThan(25_000)
    expect(expiresIn).toBeLessThanOrEqual(31_000)
    const stored = await t.database.db
      .selectFrom('fx_quotes')
      .select(['debited', 'credited', 'used_at'])
      .where('id', '=', body.id)
      .executeTakeFirst()
    expect(stored).toEqual({ debited: 1000n, credited: 1512n, used_at: null })
  })

  it('refuses an amount with more decimals than the source allows, and a pair without a rate', async () => {
    const tooPrecise = await quote(alice, { from: 'USD', to: 'JPY', amount: '10.001' })
    expect(tooPrecise.statusCode).toBe(422)
    expect(tooPrecise.json()).toMatchObject({ code: 'invalid_amount', reason: 'too_precise' })
    const noRate = await quote(alice, { from: 'JPY', to: 'USD', amount: '100' })
    expect(noRate.statusCode).toBe(422)
    expect(noRate.json().code).toBe('fx_rate_not_found')
    const same = await quote(alice, { from: 'USD', to: 'usd', amount: '1.00' })
    expect(same.json().code).toBe('exchange_same_currency')
  })
})

describe('POST /exchanges with a quoteId', () => {
  it('uses exactly the quoted rate even after the rate changed', async () => {
    const id = await quoteId(alice, { from: 'USD', to: 'JPY', amount: '10.00' })
    await putRate(t, admin, 'USD', 'JPY', '140')
    try {
      const response = await exchange(alice, {
        fromWalletId: aliceUsd.id,
        toWalletId: aliceJpy.id,
        amount: '10.00',
        quoteId: id,
      })
      expect(response.statusCode, response.body).toBe(201)
      expect(response.json()).toMatchObject({ rate: '151.237', credited: '1512', quoteId: id })
      expect(response.json().transaction.metadata).toEqual({ exchange: { rate: '151.237', quoteId: id } })
      const stored = await t.database.db
        .selectFrom('fx_quotes')
        .select(['transaction_id'])
        .where('id', '=', id)
        .executeTakeFirst()
      expect(stored?.transaction_id).toBe(response.json().transaction.id)
    } finally {
      await putRate(t, admin, 'USD', 'JPY', '151.237')
    }
    await expectLedgerConsistent(t.database.db)
  })

  it('lets a quote be used once, even by exchanges racing for it', async () => {
    const id = await quoteId(alice, { from: 'USD', to: 'JPY', amount: '1.00' })
    const payload = { fromWalletId: aliceUsd.id, toWalletId: aliceJpy.id, amount: '1.00', quoteId: id }
    const jpyBefore = await walletBalance(t, alice, aliceJpy.id)
    const responses = await Promise.all(Array.from({ length: 5 }, () => exchange(alice, payload)))
    expect(responses.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409])
    for (const response of responses.filter((r) => r.statusCode === 409)) {
      expect(response.json()).toMatchObject({ code: 'fx_quote_used', quoteId: id })
    }
    expect(BigInt(await walletBalance(t, alice, aliceJpy.id))).toBe(BigInt(jpyBefore) + 151n)
  })

  it('refuses an expired quote with 422 and moves nothing', async () => {
    const id = await quoteId(alice, { from: 'USD', to: 'JPY', amount: '1.00' })
    await sql`update fx_quotes set expires_at = statement_timestamp() - interval '1 second' where id = ${id}`.execute(
      t.database.db,
    )
    const before = await walletBalance(t, alice, aliceUsd.id)
    const response = await exchange(alice, {
      fromWalletId: aliceUsd.id,
      toWalletId: aliceJpy.id,
      amount: '1.00',
      quoteId: id,
    })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toMatchObject({ code: 'fx_quote_expired', quoteId: id })
    expect(await walletBalance(t, alice, aliceUsd.id)).toBe(before)
  })

  it('refuses with 422 an exchange that is not what was quoted, and keeps the quote usable', async () => {
    const id = await quoteId(alice, { from: 'USD', to: 'JPY', amount: '5.00' })
    const otherAmount = await exchange(alice, {
      fromWalletId: aliceUsd.id,
      toWalletId: aliceJpy.id,
      amount: '5.01',
      quoteId: id,
    })
    expect(otherAmount.statusCode).toBe(422)
    expect(otherAmount.json()).toMatchObject({ code: 'fx_quote_mismatch', field: 'amount' })
    const otherTarget = await exchange(alice, {
      fromWalletId: aliceUsd.id,
      toWalletId: aliceEur.id,
      amount: '5.00',
      quoteId: id,
    })
    expect(otherTarget.json()).toMatchObject({ code: 'fx_quote_mismatch', field: 'toCurrency' })

    const matching = await exchange(alice, {
      fromWalletId: aliceUsd.id,
      toWalletId: aliceJpy.id,
      amount: '5.00',
      quoteId: id,
    })
    expect(matching.statusCode, matching.body).toBe(201)
    expect(matching.json().credited).toBe('756')
  })

  it('lets only the principal who asked for a quote use it', async () => {
    const id = await quoteId(alice, { from: 'USD', to: 'JPY', amount: '1.00' })
    const bobUsd = await walletOf(t, bob, 'USD')
    const bobJpy = await walletOf(t, bob, 'JPY')
    await deposit(t, admin, bobUsd.id, '5.00')
    const response = await exchange(bob, {
      fromWalletId: bobUsd.id,
      toWalletId: bobJpy.id,
      amount: '1.00',
      quoteId: id,
    })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toMatchObject({ code: 'fx_quote_not_found', quoteId: id })
    expect(await walletBalance(t, bob, bobUsd.id)).toBe('5.00')
  })
})
