import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../app.js'
import { type SignedUpUser, signUp } from '../auth-fixtures.js'
import { putCurrency, putRate } from './fixtures.js'

let t: TestApp
let alice: SignedUpUser
let admin: SignedUpUser

beforeAll(async () => {
  t = await createTestApp()
  ;[alice, admin] = await Promise.all([signUp(t), signUp(t, { roles: ['admin'] })])
})
afterAll(() => t.close())

async function listRates(user: SignedUpUser, query = '') {
  const response = await t.app.inject({
    method: 'GET',
    url: `/api/v1/fx-rates${query}`,
    headers: user.headers,
  })
  expect(response.statusCode, response.body).toBe(200)
  return response.json().items as { base: string; quote: string; rate: string; updatedAt: string }[]
}

describe('PUT /fx-rates/{base}/{quote}', () => {
  it('sets a rate (201), replaces it (200), and lists it for any principal', async () => {
    const created = await putRate(t, admin, 'usd', 'jpy', '151.237')
    expect(created.statusCode, created.body).toBe(201)
    expect(created.json()).toMatchObject({ base: 'USD', quote: 'JPY', rate: '151.237' })
    const replaced = await putRate(t, admin, 'USD', 'JPY', '152')
    expect(replaced.statusCode).toBe(200)
    expect(replaced.json().rate).toBe('152')

    const items = await listRates(alice)
    expect(items).toContainEqual(expect.objectContaining({ base: 'USD', quote: 'JPY', rate: '152' }))
    expect(await listRates(alice, '?base=usd&quote=jpy')).toHaveLength(1)
    expect(await listRates(alice, '?base=EUR')).toEqual([])
  })

  it('stores the rate exactly, digit for digit, as numeric', async () => {
    for (const rate of ['0.000000123456789012345678', '1.10', '123456789012345678901234567890', '0.5']) {
      expect((await putRate(t, admin, 'EUR', 'GBP', rate)).json().rate).toBe(rate)
      expect((await listRates(alice, '?base=EUR&quote=GBP'))[0]?.rate).toBe(rate)
      const { rows } = await sql<{ rate: string; type: string }>`
        select rate::text as rate, pg_typeof(rate)::text as type from fx_rates where base = 'EUR' and quote = 'GBP'
      `.execute(t.database.db)
      expect(rows[0]).toEqual({ rate, type: 'numeric' })
    }
  })

  it('refuses malformed, non-positive and over-precise rates with 422', async () => {
    const cases: [string, string][] = [
      ['1e3', 'invalid_format'],
      ['-1.5', 'invalid_format'],
      ['1,5', 'invalid_format'],
      ['0', 'not_positive'],
      ['1.234567890123456789012345678901', 'too_precise'],
    ]
    for (const [rate, reason] of cases) {
      const response = await putRate(t, admin, 'USD', 'CHF', rate)
      expect(response.statusCode, rate).toBe(422)
      expect(response.json()).toMatchObject({ code: 'invalid_fx_rate', reason })
    }
    expect(await listRates(alice, '?base=USD&quote=CHF')).toEqual([])
  })

  it('refuses unknown currencies and a pair of one currency', async () => {
    expect((await putRate(t, admin, 'USD', 'XYZ', '1')).json().code).toBe('unknown_currency')
    const same = await putRate(t, admin, 'usd', 'USD', '1')
    expect(same.statusCode).toBe(422)
    expect(same.json().code).toBe('exchange_same_currency')
  })

  it('accepts a custom asset once it is defined', async () => {
    expect((await putRate(t, admin, 'USDT', 'USD', '0.9998')).json().code).toBe('unknown_currency')
    await putCurrency(t, admin, 'USDT', { decimals: 6, name: 'Tether USD' })
    expect((await putRate(t, admin, 'USDT', 'USD', '0.9998')).statusCode).toBe(201)
  })

  it('is for admins only', async () => {
    const response = await putRate(t, alice, 'USD', 'SEK', '10.5')
    expect(response.statusCode).toBe(403)
    expect(await listRates(admin, '?base=USD&quote=SEK')).toEqual([])
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/fx-rates' })).statusCode).toBe(401)
  })
})
