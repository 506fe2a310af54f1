import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../app.js'
import { type SignedUpUser, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent, idempotencyKey } from '../ledger.js'

let t: TestApp
let alice: SignedUpUser
let bob: SignedUpUser
let admin: SignedUpUser

beforeAll(async () => {
  // Owners withdraw from their own wallets here, on both database shapes (SELF_DEPOSITS covers both ways).
  t = await createTestApp({ env: { SELF_DEPOSITS: 'true' } })
  ;[alice, bob, admin] = await Promise.all([signUp(t), signUp(t), signUp(t, { roles: ['admin'] })])
})
afterAll(() => t.close())

async function createWallet(user: SignedUpUser, currency = 'USD') {
  const response = await t.app.inject({
    method: 'POST',
    url: '/api/v1/wallets',
    headers: user.headers,
    payload: { currency },
  })
  return response
}

async function move(
  user: SignedUpUser,
  url: string,
  payload: Record<string, unknown>,
  key = idempotencyKey(),
) {
  return t.app.inject({
    method: 'POST',
    url,
    headers: { ...user.headers, 'idempotency-key': key },
    payload,
  })
}

describe('wallets', () => {
  it('creates one wallet per user and currency, and answers 200 with it the second time', async () => {
    const first = await createWallet(alice, 'eur')
    expect(first.statusCode).toBe(201)
    const wallet = first.json()
    expect(wallet).toMatchObject({
      userId: alice.userId,
      currency: 'EUR',
      balance: '0.00',
      available: '0.00',
      pending: '0.00',
      status: 'active',
    })
    expect(Object.keys(wallet).sort()).toEqual(
      [
        'available',
        'balance',
        'createdAt',
        'currency',
        'id',
        'pending',
        'status',
        'updatedAt',
        'userId',
      ].sort(),
    )
    const second = await createWallet(alice, 'EUR')
    expect(second.statusCode).toBe(200)
    expect(second.json().id).toBe(wallet.id)
  })

  it('refuses an unknown currency with 422', async () => {
    const response = await createWallet(alice, 'XYZ')
    expect(response.statusCode).toBe(422)
    expect(response.json().code).toBe('unknown_currency')
  })

  it('lists only the caller’s wallets', async () => {
    await createWallet(bob, 'GBP')
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/wallets', headers: alice.headers })
    expect(list.statusCode).toBe(200)
    const items = list.json().items as { userId: string }[]
    expect(items.length).toBeGreaterThan(0)
    expect(items.every((w) => w.userId === alice.userId)).toBe(true)
  })

  it('requires a principal', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/wallets' })
    expect(response.statusCode).toBe(401)
    expect(response.headers['content-type']).toMatch(/application\/problem\+json/)
  })
})

describe('ownership', () => {
  it("gives user B 404 on every route of user A's wallet", async () => {
    const wallet = (await createWallet(alice, 'CHF')).json()
    const bobWallet = (await createWallet(bob, 'CHF')).json()
    const deposit = await move(admin, `/api/v1/wallets/${wallet.id}/deposits`, { amount: '5.00' })
    expect(deposit.statusCode).toBe(201)
    const transactionId = deposit.json().id

    const attempts = [
      t.app.inject({ method: 'GET', url: `/api/v1/wallets/${wallet.id}`, headers: bob.headers }),
      t.app.inject({ method: 'GET', url: `/api/v1/wallets/${wallet.id}/transactions`, headers: bob.headers }),
      t.app.inject({ method: 'GET', url: `/api/v1/wallets/${wallet.id}/balance`, headers: bob.headers }),
      t.app.inject({ method: 'GET', url: `/api/v1/transactions/${transactionId}`, headers: bob.headers }),
      move(bob, `/api/v1/wallets/${wallet.id}/deposits`, { amount: '1.00' }),
      move(bob, `/api/v1/wallets/${wallet.id}/withdrawals`, { amount: '1.00' }),
      move(bob, '/api/v1/transfers', { fromWalletId: wallet.id, toWalletId: bobWallet.id, amount: '1.00' }),
    ]
    for (const response of await Promise.all(attempts)) {
      expect(response.statusCode, response.body).toBe(404)
      expect(response.body).not.toContain(alice.userId)
    }
    const unchanged = await t.app.inject({
      method: 'GET',
      url: `/api/v1/wallets/${wallet.id}`,
      headers: alice.headers,
    })
    expect(unchanged.json().balance).toBe('5.00')
  })

  it('lets a user send to another user’s wallet but not freeze it', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/v1/wallets/${(await createWallet(bob, 'AUD')).json().id}/freeze`,
      headers: alice.headers,
    })
    expect(response.statusCode).toBe(403)
  })
})

describe('freeze, unfreeze, close', () => {
  it('a frozen wallet refuses every movement, in and out, and takes them again once unfrozen', async () => {
    const frozen = (await createWallet(alice, 'SEK')).json()
    const other = (await createWallet(bob, 'SEK')).json()
    expect((await move(admin, `/api/v1/wallets/${frozen.id}/deposits`, { amount: '10' })).statusCode).toBe(
      201,
    )
    expect((await move(admin, `/api/v1/wallets/${other.id}/deposits`, { amount: '10' })).statusCode).toBe(201)
    const freeze = await t.app.inject({
      method: 'POST',
      url: `/api/v1/wallets/${frozen.id}/freeze`,
      headers: admin.headers,
    })
    expect(freeze.statusCode).toBe(200)
    expect(freeze.json().status).toBe('frozen')

    const refused = await Promise.all([
      move(admin, `/api/v1/wallets/${frozen.id}/deposits`, { amount: '1' }),
      move(alice, `/api/v1/wallets/${frozen.id}/withdrawals`, { amount: '1' }),
      move(alice, '/api/v1/transfers', { fromWalletId: frozen.id, toWalletId: other.id, amount: '1' }),
      move(bob, '/api/v1/transfers', { fromWalletId: other.id, toWalletId: frozen.id, amount: '1' }),
    ])
    for (const response of refused) {
      expect(response.statusCode, response.body).toBe(409)
      expect(response.json().code).toBe('wallet_frozen')
    }
    await t.app.inject({
      method: 'POST',
      url: `/api/v1/wallets/${frozen.id}/unfreeze`,
      headers: admin.headers,
    })
    expect((await move(alice, `/api/v1/wallets/${frozen.id}/withdrawals`, { amount: '1' })).statusCode).toBe(
      201,
    )
    await expectLedgerConsistent(t.database.db)
  })

  it('closes only an empty wallet; a closed wallet refuses everything and stays readable', async () => {
    const wallet = (await createWallet(alice, 'NOK')).json()
    await move(admin, `/api/v1/wallets/${wallet.id}/deposits`, { amount: '3' })
    const notEmpty = await t.app.inject({
      method: 'POST',
      url: `/api/v1/wallets/${wallet.id}/close`,
      headers: admin.headers,
    })
    expect(notEmpty.statusCode).toBe(409)
    expect(notEmpty.json().code).toBe('wallet_not_empty')
    await move(alice, `/api/v1/wallets/${wallet.id}/withdrawals`, { amount: '3' })
    const closed = await t.app.inject({
      method: 'POST',
      url: `/api/v1/wallets/${wallet.id}/close`,
      headers: admin.headers,
    })
    expect(closed.statusCode).toBe(200)
    expect(closed.json().status).toBe('closed')

    const refused = await Promise.all([
      move(admin, `/api/v1/wallets/${wallet.id}/deposits`, { amount: '1' }),
      move(alice, `/api/v1/wallets/${wallet.id}/withdrawals`, { amount: '1' }),
    ])
    for (const response of refused) expect(response.json().code).toBe('wallet_closed')
    const unfreeze = await t.app.inject({
      method: 'POST',
      url: `/api/v1/wallets/${wallet.id}/unfreeze`,
      headers: admin.headers,
    })
    expect(unfreeze.json().code).toBe('wallet_closed')
    const read = await t.app.inject({
      method: 'GET',
      url: `/api/v1/wallets/${wallet.id}`,
      headers: alice.headers,
    })
    expect(read.statusCode).toBe(200)
    expect(read.json().status).toBe('closed')
    const history = await t.app.inject({
      method: 'GET',
      url: `/api/v1/wallets/${wallet.id}/transactions`,
      headers: alice.headers,
    })
    expect(history.json().items).toHaveLength(2)
  })

  it('writes an outbox event with each status change, in the same transaction', async () => {
    const wallet = (await createWallet(bob, 'DKK')).json()
    await t.app.inject({ method: 'POST', url: `/api/v1/wallets/${wallet.id}/freeze`, headers: admin.headers })
    const events = await t.database.db
      .selectFrom('outbox')
      .select(['type', 'aggregate_id', 'payload'])
      .where('aggregate_id', '=', wallet.id)
      .orderBy('id')
      .execute()
    expect(events.map((e) => e.type)).toEqual(['wallet.created', 'wallet.frozen'])
    expect(events[1]!.payload).toMatchObject({ id: wallet.id, status: 'frozen' })
  })
})

describe('append-only ledger', () => {
  it('rejects UPDATE and DELETE of entries and transactions', async () => {
    const wallet = (await createWallet(alice, 'PLN')).json()
    await move(admin, `/api/v1/wallets/${wallet.id}/deposits`, { amount: '1' })
    await expect(sql`update entries set amount = amount + 1`.execute(t.database.db)).rejects.toThrow(
      /append-only/,
    )
    await expect(sql`delete from entries`.execute(t.database.db)).rejects.toThrow(/append-only/)
    await expect(sql`update transactions set amount = 1`.execute(t.database.db)).rejects.toThrow(
      /append-only/,
    )
    await expect(sql`delete from transactions`.execute(t.database.db)).rejects.toThrow(/append-only/)
    await expectLedgerConsistent(t.database.db)
  })
})
