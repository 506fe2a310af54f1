import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TransactionView, WalletView } from '../../src/wallets/wallets.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent } from '../ledger.js'
import {
  deposit,
  fund,
  openWallet,
  type Problem,
  pause,
  postMoney,
  transfer,
  walletBalance,
  withdraw,
} from './fixtures.js'

let t: TestApp
let alice: SignedUpUser
let bob: SignedUpUser
let service: CreatedApiKey

beforeAll(async () => {
  // Owners deposit into and withdraw from their own wallets here, on both database shapes.
  t = await createTestApp({ env: { SELF_DEPOSITS: 'true' } })
  ;[alice, bob] = await Promise.all([signUp(t), signUp(t)])
  service = await createApiKey(t, ['service'])
})
afterAll(() => t.close())

/** Everything a refused request must leave as it was (idempotency keys aside: a refusal is recorded). */
async function ledgerState(walletIds: string[]) {
  const count = async (table: 'transactions' | 'entries' | 'outbox' | 'system_balance_deltas') =>
    Number(
      (
        await t.database.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    )
  const wallets = await t.database.db
    .selectFrom('accounts')
    .select(['id', 'balance', 'pending', 'updated_at'])
    .where('id', 'in', walletIds)
    .orderBy('id')
    .execute()
  return {
    transactions: await count('transactions'),
    entries: await count('entries'),
    outbox: await count('outbox'),
    deltas: await count('system_balance_deltas'),
    wallets,
  }
}

const TRANSACTION_KEYS = [
  'amount',
  'createdAt',
  'currency',
  'description',
  'entries',
  'flags',
  'id',
  'metadata',
  'reference',
  'reversesId',
  'status',
  'type',
]

describe('movements answer 201 with the transaction', () => {
  it('a deposit by the owner, readable again at GET /transactions/{id}', async () => {
    const wallet = await openWallet(t, alice.headers, 'USD')
    const response = await postMoney(t, alice.headers, `/api/v1/wallets/${wallet.id}/deposits`, {
      amount: '12.50',
      reference: 'payment-7',
      description: 'Top-up',
      metadata: { channel: 'card', attempt: 2, nested: { ok: true } },
    })
    expect(response.statusCode, response.body).toBe(201)
    expect(response.headers['content-type']).toMatch(/^application\/json/)
    const posted = response.json<TransactionView>()
    expect(Object.keys(posted).sort()).toEqual(TRANSACTION_KEYS)
    expect(posted).toMatchObject({
      type: 'deposit',
      status: 'posted',
      amount: '12.50',
      currency: 'USD',
      reference: 'payment-7',
      description: 'Top-up',
      metadata: { channel: 'card', attempt: 2, nested: { ok: true } },
      reversesId: null,
      flags: [],
    })
    // Money enters from the world account, which keeps no running balance (it is never locked).
    expect(posted.entries).toEqual([
      { account: 'world', currency: 'USD', amount: '-12.50', balanceAfter: null },
      { walletId: wallet.id, currency: 'USD', amount: '12.50', balanceAfter: '12.50' },
    ])
    expect(new Date(posted.createdAt).toISOString()).toBe(posted.createdAt)
    expect(await walletBalance(t, alice.headers, wallet.id)).toBe('12.50')

    const read = await t.app.inject({
      method: 'GET',
      url: `/api/v1/transactions/${posted.id}`,
      headers: alice.headers,
    })
    expect(read.statusCode, read.body).toBe(200)
    expect(read.json()).toEqual(posted)
  })

  it('a withdrawal takes money out to the world account', async () => {
    const wallet = await openWallet(t, bob.headers, 'EUR')
    await fund(t, service.headers, wallet.id, '10.00')
    const response = await withdraw(t, bob.headers, wallet.id, '2.50')
    expect(response.statusCode, response.body).toBe(201)
    const posted = response.json<TransactionView>()
    expect(posted).toMatchObject({
      type: 'withdrawal',
      amount: '2.50',
      currency: 'EUR',
      reference: null,
      metadata: null,
    })
    expect(posted.entries).toEqual([
      { walletId: wallet.id, currency: 'EUR', amount: '-2.50', balanceAfter: '7.50' },
      { account: 'world', currency: 'EUR', amount: '2.50', balanceAfter: null },
    ])
    const read = await t.app.inject({
      method: 'GET',
      url: `/api/v1/transactions/${posted.id}`,
      headers: bob.headers,
    })
    expect(read.json()).toEqual(posted)
    expect(await walletBalance(t, bob.headers, wallet.id)).toBe('7.50')
  })

  it('a transfer to a wallet id moves money between the two wallets and each owner reads their side', async () => {
    const [from, to] = await Promise.all([
      openWallet(t, alice.headers, 'GBP'),
      openWallet(t, bob.headers, 'GBP'),
    ])
    await fund(t, service.headers, from.id, '20.00')
    const response = await transfer(t, alice.headers, {
      fromWalletId: from.id,
      toWalletId: to.id,
      amount: '7.25',
    })
    expect(response.statusCode, response.body).toBe(201)
    const posted = response.json<TransactionView>()
    expect(Object.keys(posted).sort()).toEqual(TRANSACTION_KEYS)
    expect(posted).toMatchObject({ type: 'transfer', amount: '7.25', currency: 'GBP' })
    // The recipient is named but their balance is not the sender's to see (test/wallets/visibility.test.ts).
    expect(posted.entries).toEqual([
      { walletId: from.id, currency: 'GBP', amount: '-7.25', balanceAfter: '12.75' },
      { walletId: to.id, currency: 'GBP', amount: '7.25', balanceAfter: null },
    ])
    const readBy = async (owner: SignedUpUser) =>
      (
        await t.app.inject({
          method: 'GET',
          url: `/api/v1/transactions/${posted.id}`,
          headers: owner.headers,
        })
      ).json<TransactionView>()
    expect(await readBy(alice)).toEqual(posted)
    expect(await readBy(bob)).toEqual({
      ...posted,
      entries: [
        { walletId: from.id, currency: 'GBP', amount: '-7.25', balanceAfter: null },
        { walletId: to.id, currency: 'GBP', amount: '7.25', balanceAfter: '7.25' },
      ],
    })
    expect(await walletBalance(t, alice.headers, from.id)).toBe('12.75')
    expect(await walletBalance(t, bob.headers, to.id)).toBe('7.25')
  })

  it("a transfer to a user id lands in that user's wallet of the source's currency", async () => {
    const from = await openWallet(t, alice.headers, 'CHF')
    // Bob has wallets in other currencies too; only the CHF one may receive.
    const [bobEur, bobChf] = await Promise.all([
      openWallet(t, bob.headers, 'EUR'),
      openWallet(t, bob.headers, 'CHF'),
    ])
    await fund(t, service.headers, from.id, '5.00')
    const response = await transfer(t, alice.headers, {
      fromWalletId: from.id,
      toUserId: bob.userId,
      amount: '1.50',
    })
    expect(response.statusCode, response.body).toBe(201)
    expect(response.json<TransactionView>().entries).toEqual([
      { walletId: from.id, currency: 'CHF', amount: '-1.50', balanceAfter: '3.50' },
      { walletId: bobChf.id, currency: 'CHF', amount: '1.50', balanceAfter: null },
    ])
    expect(await walletBalance(t, bob.headers, bobChf.id)).toBe('1.50')
    expect(await walletBalance(t, bob.headers, bobEur.id)).not.toBe('1.50')
  })

  it("a service API key may deposit into any user's wallet", async () => {
    const wallet = await openWallet(t, alice.headers, 'AUD')
    const response = await deposit(t, service.headers, wallet.id, '3.00')
    expect(response.statusCode, response.body).toBe(201)
    expect(await walletBalance(t, alice.headers, wallet.id)).toBe('3.00')
    await expectLedgerConsistent(t.database.db)
  })
})

describe('refused movements answer with their code and change nothing', () => {
  let usd: WalletView
  let bobUsd: WalletView
  let bobEur: WalletView
  let jpy: WalletView

  beforeAll(async () => {
    ;[usd, bobUsd, bobEur, jpy] = await Promise.all([
      openWallet(t, alice.headers, 'NZD'),
      openWallet(t, bob.headers, 'NZD'),
      openWallet(t, bob.headers, 'SEK'),
      openWallet(t, alice.headers, 'JPY'),
    ])
    await fund(t, service.headers, usd.id, '10.00')
    await fund(t, service.headers, jpy.id, '100')
  })

  /** Runs the refusals and checks that not one row of the ledger or the outbox changed. */
  async function expectRefusedUnchanged(attempts: () => Promise<LightMyRequestResponse>[]) {
    const ids = [usd.id, bobUsd.id, bobEur.id, jpy.id]
    const before = await ledgerState(ids)
    const responses = await Promise.all(attempts())
    expect(await ledgerState(ids)).toEqual(before)
    return responses
  }

  it.each(['0', '-1', '1.001', '1e3', ''])(
    'amount %j is 422 invalid_amount on every movement',
    async (amount) => {
      const responses = await expectRefusedUnchanged(() => [
        deposit(t, alice.headers, usd.id, amount),
        withdraw(t, alice.headers, usd.id, amount),
        transfer(t, alice.headers, { fromWalletId: usd.id, toWalletId: bobUsd.id, amount }),
      ])
      for (const response of responses) {
        expect(response.statusCode).toBe(422)
        expect(response.json<Problem>().code).toBe('invalid_amount')
      }
    },
  )

  it('a fraction of a currency without decimals (JPY "1.5") is 422 invalid_amount', async () => {
    const [response] = await expectRefusedUnchanged(() => [deposit(t, alice.headers, jpy.id, '1.5')])
    expect(response!.statusCode).toBe(422)
    expect(response!.json<Problem>()).toMatchObject({ code: 'invalid_amount', currency: 'JPY', decimals: 0 })
  })

  it('a transfer between currencies is 422 currency_mismatch', async () => {
    const [response] = await expectRefusedUnchanged(() => [
      transfer(t, alice.headers, { fromWalletId: usd.id, toWalletId: bobEur.id, amount: '1.00' }),
    ])
    expect(response!.statusCode).toBe(422)
    expect(response!.json<Problem>()).toMatchObject({ code: 'currency_mismatch', walletId: bobEur.id })
  })

  it('a transfer to the source wallet itself is 422 same_wallet, however it is named', async () => {
    const responses = await expectRefusedUnchanged(() => [
      transfer(t, alice.headers, { fromWalletId: usd.id, toWalletId: usd.id, amount: '1.00' }),
      transfer(t, alice.headers, { fromWalletId: usd.id, toUserId: alice.userId, amount: '1.00' }),
    ])
    for (const response of responses) {
      expect(response.statusCode).toBe(422)
      expect(response.json<Problem>().code).toBe('same_wallet')
    }
  })

  it('a transfer naming both or neither of toWalletId and toUserId is 422', async () => {
    const responses = await expectRefusedUnchanged(() => [
      transfer(t, alice.headers, {
        fromWalletId: usd.id,
        toWalletId: bobUsd.id,
        toUserId: bob.userId,
        amount: '1.00',
      }),
      transfer(t, alice.headers, { fromWalletId: usd.id, amount: '1.00' }),
    ])
    for (const response of responses) {
      expect(response.statusCode).toBe(422)
      expect(response.json<Problem>().code).toBe('transfer_target_required')
    }
  })

  it('taking more than is available is 422 insufficient_funds naming the available amount', async () => {
    const responses = await expectRefusedUnchanged(() => [
      withdraw(t, alice.headers, usd.id, '10.01'),
      transfer(t, alice.headers, { fromWalletId: usd.id, toWalletId: bobUsd.id, amount: '10.01' }),
      transfer(t, bob.headers, { fromWalletId: bobUsd.id, toWalletId: usd.id, amount: '0.01' }),
    ])
    expect(responses.map((r) => r.statusCode)).toEqual([422, 422, 422])
    expect(responses[0]!.json<Problem>()).toMatchObject({
      code: 'insufficient_funds',
      walletId: usd.id,
      currency: 'NZD',
      available: '10.00',
      requested: '10.01',
    })
    expect(responses[1]!.json<Problem>()).toMatchObject({ code: 'insufficient_funds', available: '10.00' })
    expect(responses[2]!.json<Problem>()).toMatchObject({ code: 'insufficient_funds', available: '0.00' })
  })

  it('an unknown wallet, or a user without a wallet of that currency, is 404', async () => {
    const nobody = randomUUID()
    const responses = await expectRefusedUnchanged(() => [
      deposit(t, service.headers, nobody, '1.00'),
      withdraw(t, service.headers, nobody, '1.00'),
      transfer(t, service.headers, { fromWalletId: nobody, toWalletId: usd.id, amount: '1.00' }),
      transfer(t, alice.headers, { fromWalletId: usd.id, toWalletId: nobody, amount: '1.00' }),
      transfer(t, alice.headers, { fromWalletId: usd.id, toUserId: randomUUID(), amount: '1.00' }),
    ])
    for (const response of responses) {
      expect(response.statusCode).toBe(404)
      expect(response.json<Problem>().code).toBe('wallet_not_found')
    }
    await expectLedgerConsistent(t.database.db)
  })
})

describe('balance at an instant', () => {
  const balanceAt = async (walletId: string, at: string) => {
    const response = await t.app.inject({
      method: 'GET',
      url: `/api/v1/wallets/${walletId}/balance?at=${encodeURIComponent(at)}`,
      headers: alice.headers,
    })
    expect(response.statusCode, response.body).toBe(200)
    return response.json<{ balance: string; at: string; currency: string }>()
  }

  it('answers the balance after the last entry at or before the instant', async () => {
    const wallet = await openWallet(t, alice.headers, 'CAD')
    const beforeAnything = new Date().toISOString()
    await pause()
    const first = await fund(t, service.headers, wallet.id, '3.00')
    await pause()
    const between = new Date().toISOString()
    await pause()
    const second = await fund(t, service.headers, wallet.id, '4.00')

    expect(await balanceAt(wallet.id, between)).toEqual({
      walletId: wallet.id,
      currency: 'CAD',
      balance: '3.00',
      at: between,
    })
    expect((await balanceAt(wallet.id, beforeAnything)).balance).toBe('0.00')
    expect((await balanceAt(wallet.id, new Date().toISOString())).balance).toBe('7.00')
    // The instant the API reports for a transaction includes that transaction: a client asking
    // "what was my balance when this posted?" gets the balance after it, not before.
    expect((await balanceAt(wallet.id, first.createdAt)).balance).toBe('3.00')
    expect((await balanceAt(wallet.id, second.createdAt)).balance).toBe('7.00')

    const now = await t.app.inject({
      method: 'GET',
      url: `/api/v1/wallets/${wallet.id}/balance`,
      headers: alice.headers,
    })
    expect(now.json().balance).toBe('7.00')
  })
})

describe('outbox', () => {
  it('every committed movement wrote one transaction.posted event in the same database transaction', async () => {
    const [from, to] = await Promise.all([
      openWallet(t, alice.headers, 'HKD'),
      openWallet(t, bob.headers, 'HKD'),
    ])
    const responses = [
      await deposit(t, service.headers, from.id, '9.00'),
      await withdraw(t, alice.headers, from.id, '1.00'),
      await transfer(t, alice.headers, { fromWalletId: from.id, toWalletId: to.id, amount: '2.00' }),
    ]
    for (const response of responses) {
      expect(response.statusCode, response.body).toBe(201)
      const posted = response.json<TransactionView>()
      // The event is for Coffer's own consumers: every balance, as a service reads the transaction.
      const full = await t.app.inject({
        method: 'GET',
        url: `/api/v1/transactions/${posted.id}`,
        headers: service.headers,
      })
      expect(full.json<TransactionView>()).toMatchObject({ id: posted.id, amount: posted.amount })
      const events = await t.database.db
        .selectFrom('outbox')
        .select(['type', 'aggregate_type', 'payload', 'published_at'])
        .where('aggregate_id', '=', posted.id)
        .execute()
      expect(events).toEqual([
        {
          type: 'transaction.posted',
          aggregate_type: 'transaction',
          payload: full.json(),
          published_at: null,
        },
      ])
      // The same writing transaction id (xmin) on both rows: they committed together or not at all.
      const { rows } = await sql<{ outbox: string; transaction: string }>`
        select (select xmin::text from outbox where aggregate_id = ${posted.id}) as outbox,
               (select xmin::text from transactions where id = ${posted.id}) as transaction
      `.execute(t.database.db)
      expect(rows[0]!.outbox).toBe(rows[0]!.transaction)
    }
  })

  it('a refused movement wrote no event', async () => {
    const wallet = await openWallet(t, alice.headers, 'SGD')
    const events = async () =>
      Number(
        (
          await t.database.db
            .selectFrom('outbox')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where('type', '=', 'transaction.posted')
            .executeTakeFirstOrThrow()
        ).n,
      )
    const before = await events()
    const refused = await Promise.all([
      withdraw(t, alice.headers, wallet.id, '1.00'),
      deposit(t, alice.headers, wallet.id, '0'),
      transfer(t, alice.headers, { fromWalletId: wallet.id, toWalletId: wallet.id, amount: '1.00' }),
    ])
    expect(refused.map((r) => r.statusCode)).toEqual([422, 422, 422])
    expect(await events()).toBe(before)
    await expectLedgerConsistent(t.database.db)
  })
})
