import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { createContainer } from '../../src/container.js'
import { createLogger } from '../../src/logger.js'
import { createTestApp, type TestApp } from '../app.js'
import { type SignedUpUser, signUp } from '../auth-fixtures.js'
import { deposit, post, putCurrency, walletBalance, walletOf } from '../fx/fixtures.js'
import { expectLedgerConsistent } from '../ledger.js'

let t: TestApp
let alice: SignedUpUser
let admin: SignedUpUser

beforeAll(async () => {
  t = await createTestApp()
  ;[alice, admin] = await Promise.all([signUp(t), signUp(t, { roles: ['admin'] })])
})
afterAll(() => t.close())

async function listCurrencies(user: SignedUpUser, query = '') {
  const response = await t.app.inject({
    method: 'GET',
    url: `/api/v1/currencies${query}`,
    headers: user.headers,
  })
  expect(response.statusCode, response.body).toBe(200)
  return response.json().items as { code: string; decimals: number; name: string; kind: string }[]
}

describe('GET /currencies', () => {
  it('lists ISO 4217 currencies and custom assets with their decimals and kind', async () => {
    const items = await listCurrencies(alice)
    expect(items.find((c) => c.code === 'USD')).toEqual({
      code: 'USD',
      decimals: 2,
      name: 'US Dollar',
      kind: 'iso4217',
    })
    expect(items.find((c) => c.code === 'JPY')).toMatchObject({ decimals: 0, kind: 'iso4217' })
    expect(items.find((c) => c.code === 'PTS')).toMatchObject({ decimals: 0, kind: 'custom' })
    const custom = await listCurrencies(alice, '?kind=custom')
    expect(custom.every((c) => c.kind === 'custom')).toBe(true)
  })

  it('needs a principal', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/currencies' })
    expect(response.statusCode).toBe(401)
  })
})

describe('PUT /currencies/{code}', () => {
  it('adds a custom asset (201), persists it, and renames it (200)', async () => {
    const created = await putCurrency(t, admin, 'usdt', { decimals: 6, name: 'Tether' })
    expect(created.statusCode, created.body).toBe(201)
    expect(created.json()).toEqual({ code: 'USDT', decimals: 6, name: 'Tether', kind: 'custom' })

    const renamed = await putCurrency(t, admin, 'USDT', { decimals: 6, name: 'Tether USD' })
    expect(renamed.statusCode).toBe(200)
    expect(renamed.json().name).toBe('Tether USD')

    const stored = await t.database.db
      .selectFrom('currencies')
      .selectAll()
      .where('code', '=', 'USDT')
      .executeTakeFirst()
    expect(stored).toMatchObject({ code: 'USDT', decimals: 6, name: 'Tether USD' })
    expect((await listCurrencies(alice)).find((c) => c.code === 'USDT')).toEqual({
      code: 'USDT',
      decimals: 6,
      name: 'Tether USD',
      kind: 'custom',
    })
  })

  it('works end to end for USDT with 6 decimals: wallet, deposit of "1.123456", and 7 decimals refused', async () => {
    await putCurrency(t, admin, 'USDT', { decimals: 6, name: 'Tether USD' })
    const wallet = await walletOf(t, alice, 'usdt')
    await deposit(t, admin, wallet.id, '1.123456')
    expect(await walletBalance(t, alice, wallet.id)).toBe('1.123456')

    const tooPrecise = await post(t, admin, `/api/v1/wallets/${wallet.id}/deposits`, { amount: '1.1234567' })
    expect(tooPrecise.statusCode).toBe(422)
    expect(tooPrecise.json()).toMatchObject({ code: 'invalid_amount', reason: 'too_precise', decimals: 6 })
    await expectLedgerConsistent(t.database.db)
  })

  it('changes decimals while no wallet uses the asset, and refuses with 409 once one does', async () => {
    expect((await putCurrency(t, admin, 'GOLDG', { decimals: 2, name: 'Gold gram' })).statusCode).toBe(201)
    const changed = await putCurrency(t, admin, 'GOLDG', { decimals: 4, name: 'Gold gram' })
    expect(changed.statusCode).toBe(200)
    expect(changed.json().decimals).toBe(4)

    await walletOf(t, alice, 'GOLDG')
    const refused = await putCurrency(t, admin, 'GOLDG', { decimals: 3, name: 'Gold gram' })
    expect(refused.statusCode).toBe(409)
    expect(refused.json()).toMatchObject({ code: 'currency_in_use', currency: 'GOLDG', decimals: 4 })
    // Renaming stays possible.
    const renamed = await putCurrency(t, admin, 'GOLDG', { decimals: 4, name: 'Gold (grams)' })
    expect(renamed.statusCode).toBe(200)
    const stored = await t.database.db
      .selectFrom('currencies')
      .select('decimals')
      .where('code', '=', 'GOLDG')
      .executeTakeFirst()
    expect(stored?.decimals).toBe(4)
  })

  it('refuses to redefine an ISO 4217 currency or a built-in asset', async () => {
    for (const code of ['USD', 'jpy', 'PTS']) {
      const response = await putCurrency(t, admin, code, { decimals: 4, name: 'Mine now' })
      expect(response.statusCode, code).toBe(422)
      expect(response.json()).toMatchObject({ code: 'currency_reserved', currency: code.toUpperCase() })
    }
    const usd = (await listCurrencies(alice)).find((c) => c.code === 'USD')
    expect(usd?.decimals).toBe(2)
  })

  it('refuses malformed codes and definitions', async () => {
    expect((await putCurrency(t, admin, 'U$D', { decimals: 2, name: 'x' })).json().code).toBe(
      'invalid_currency_code',
    )
    // Past the documented maximum of 18 decimals: well-formed, so 422 (DESIGN §5), not a 400.
    const tooPrecise = await putCurrency(t, admin, 'ABCD', { decimals: 19, name: 'x' })
    expect(tooPrecise.statusCode).toBe(422)
    expect(tooPrecise.json().code).toBe('limit_exceeded')
    expect((await putCurrency(t, admin, 'ABCD', { decimals: 2.5, name: 'x' })).statusCode).toBe(400)
    const blank = await putCurrency(t, admin, 'ABCD', { decimals: 2, name: '   ' })
    expect(blank.statusCode).toBe(422)
    expect(blank.json().code).toBe('invalid_currency_definition')
  })

  it('is for admins only', async () => {
    const response = await putCurrency(t, alice, 'MINE', { decimals: 2, name: 'Mine' })
    expect(response.statusCode).toBe(403)
    const stored = await t.database.db
      .selectFrom('currencies')
      .select('code')
      .where('code', '=', 'MINE')
      .executeTakeFirst()
    expect(stored).toBeUndefined()
  })
})

describe('several app instances on one database', () => {
  it('a second instance sees a currency the first defined after it started', async () => {
    // Built on the same database, as a second process would be; closing it must leave that database open.
    const container = await createContainer(t.container.config, createLogger(t.container.config), {
      database: t.database,
    })
    const second = await buildApp(container)
    try {
      await second.ready()
      expect(container.currencyRegistry.get('SECOND')).toBeUndefined()
      expect(
        (await putCurrency(t, admin, 'SECOND', { decimals: 3, name: 'Defined on the first' })).statusCode,
      ).toBe(201)

      const wallet = await second.inject({
        method: 'POST',
        url: '/api/v1/wallets',
        headers: alice.headers,
        payload: { currency: 'second' },
      })
      expect(wallet.statusCode, wallet.body).toBe(201)
      expect(wallet.json()).toMatchObject({ currency: 'SECOND', balance: '0.000' })
      const deposited = await second.inject({
        method: 'POST',
        url: `/api/v1/wallets/${wallet.json().id}/deposits`,
        headers: { ...admin.headers, 'idempotency-key': `second-${Date.now()}` },
        payload: { amount: '1.234' },
      })
      expect(deposited.statusCode, deposited.body).toBe(201)
      expect(deposited.json().amount).toBe('1.234')

      const listed = await second.inject({
        method: 'GET',
        url: '/api/v1/currencies?kind=custom',
        headers: alice.headers,
      })
      expect(listed.json().items).toContainEqual({
        code: 'SECOND',
        decimals: 3,
        name: 'Defined on the first',
        kind: 'custom',
      })
    } finally {
      await second.close()
      await container.redis?.quit()
    }
    await expectLedgerConsistent(t.database.db)
  })

  it('a wallet creation reads the decimals the database holds, not a stale copy', async () => {
    expect((await putCurrency(t, admin, 'STALE', { decimals: 2, name: 'Stale' })).statusCode).toBe(201)
    // Another process changed the decimals after this one cached them.
    await t.database.db.updateTable('currencies').set({ decimals: 5 }).where('code', '=', 'STALE').execute()
    t.container.currencyRegistry.define({ code: 'STALE', decimals: 2, name: 'Stale' })
    const wallet = await walletOf(t, alice, 'STALE')
    expect(await walletBalance(t, alice, wallet.id)).toBe('0.00000')
    expect(t.container.currencyRegistry.get('STALE')?.decimals).toBe(5)
  })
})
