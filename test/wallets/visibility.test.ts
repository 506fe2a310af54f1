import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TransactionView } from '../../src/wallets/wallets.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import {
  type AuthHeaders,
  type CreatedApiKey,
  createApiKey,
  type SignedUpUser,
  signUp,
} from '../auth-fixtures.js'
import { idempotencyKey } from '../ledger.js'
import { deposit, fund, openWallet, type Problem, postMoney, transfer, withdraw } from './fixtures.js'

/**
 * DESIGN §5: a response shows a balance only for wallets the caller may read (their own; admins
 * and services read all). The other party of a movement keeps its wallet id, which names the
 * counterparty, and shows `balanceAfter: null`.
 */

let t: TestApp
let alice: SignedUpUser
let bob: SignedUpUser
let admin: SignedUpUser
let service: CreatedApiKey

beforeAll(async () => {
  // Owners deposit into and withdraw from their own wallets here, on both database shapes.
  t = await createTestApp({ env: { SELF_DEPOSITS: 'true' } })
  ;[alice, bob, admin] = await Promise.all([signUp(t), signUp(t), signUp(t, { roles: ['admin'] })])
  service = await createApiKey(t, ['service'])
})
afterAll(() => t.close())

/** balanceAfter of each wallet entry, by wallet id; system entries are checked to show none. */
function walletBalances(view: TransactionView): Record<string, string | null> {
  const balances: Record<string, string | null> = {}
  for (const entry of view.entries) {
    if (entry.walletId) balances[entry.walletId] = entry.balanceAfter
    else expect(entry.balanceAfter, `system account ${entry.account}`).toBeNull()
  }
  return balances
}

function created(response: LightMyRequestResponse): TransactionView {
  expect(response.statusCode, response.body).toBe(201)
  return response.json<TransactionView>()
}

async function readTransaction(headers: AuthHeaders, id: string): Promise<TransactionView> {
  const response = await t.app.inject({ method: 'GET', url: `/api/v1/transactions/${id}`, headers })
  expect(response.statusCode, response.body).toBe(200)
  return response.json<TransactionView>()
}

/** Two funded wallets of one currency: Alice's with 50.00 and Bob's with 20.00. */
async function pairOfWallets(currency: string) {
  const [from, to] = await Promise.all([
    openWallet(t, alice.headers, currency),
    openWallet(t, bob.headers, currency),
  ])
  await fund(t, service.headers, from.id, '50.00')
  await fund(t, service.headers, to.id, '20.00')
  return { from: from.id, to: to.id }
}

describe('a transfer', () => {
  it("answers the sender without the recipient's balance, and each owner reads only their own", async () => {
    const { from, to } = await pairOfWallets('GBP')
    const posted = created(
      await transfer(t, alice.headers, { fromWalletId: from, toWalletId: to, amount: '0.01' }),
    )
    // Sending someone 0.01 must not tell the sender that they now hold 20.01.
    expect(walletBalances(posted)).toEqual({ [from]: '49.99', [to]: null })
    expect(posted.entries.map((e) => e.walletId)).toEqual([from, to])
    expect(posted.entries.map((e) => e.amount)).toEqual(['-0.01', '0.01'])

    expect(walletBalances(await readTransaction(alice.headers, posted.id))).toEqual({
      [from]: '49.99',
      [to]: null,
    })
    expect(walletBalances(await readTransaction(bob.headers, posted.id))).toEqual({
      [from]: null,
      [to]: '20.01',
    })
    for (const operator of [admin.headers, service.headers]) {
      expect(walletBalances(await readTransaction(operator, posted.id))).toEqual({
        [from]: '49.99',
        [to]: '20.01',
      })
    }
  })

  it("to a user id hides that user's balance too", async () => {
    const { from, to } = await pairOfWallets('CHF')
    const posted = created(
      await transfer(t, alice.headers, { fromWalletId: from, toUserId: bob.userId, amount: '1.00' }),
    )
    expect(walletBalances(posted)).toEqual({ [from]: '49.00', [to]: null })
  })

  it('made by an admin or a service shows both balances to it', async () => {
    const { from, to } = await pairOfWallets('SEK')
    const byAdmin = created(
      await transfer(t, admin.headers, { fromWalletId: from, toWalletId: to, amount: '1.00' }),
    )
    expect(walletBalances(byAdmin)).toEqual({ [from]: '49.00', [to]: '21.00' })
    const byService = created(
      await transfer(t, service.headers, { fromWalletId: from, toWalletId: to, amount: '1.00' }),
    )
    expect(walletBalances(byService)).toEqual({ [from]: '48.00', [to]: '22.00' })
  })

  it("replayed with its Idempotency-Key is still the sender's view, and another caller cannot replay it", async () => {
    const { from, to } = await pairOfWallets('NOK')
    const key = idempotencyKey('visible')
    const body = { fromWalletId: from, toWalletId: to, amount: '2.00' }
    const first = await transfer(t, alice.headers, body, key)
    const replay = await transfer(t, alice.headers, body, key)
    expect(replay.headers['idempotency-replayed']).toBe('true')
    expect(replay.body).toBe(first.body)
    expect(walletBalances(created(replay))).toEqual({ [from]: '48.00', [to]: null })
    // Keys are scoped to the caller: Bob's request with Alice's key is his own request (her
    // wallet is not his to spend from), never her stored answer with her balance in it.
    const bobs = await transfer(t, bob.headers, body, key)
    expect(bobs.statusCode, bobs.body).toBe(404)
    expect(bobs.headers['idempotency-replayed']).toBeUndefined()
    expect(bobs.json<Problem>().code).toBe('wallet_not_found')
  })
})

describe('money entering and leaving the ledger', () => {
  it('a deposit and a withdrawal show the owner their balance and the world account none', async () => {
    const wallet = (await openWallet(t, alice.headers, 'DKK')).id
    const deposited = created(await deposit(t, alice.headers, wallet, '5.00'))
    expect(walletBalances(deposited)).toEqual({ [wallet]: '5.00' })
    expect(deposited.entries.find((e) => !e.walletId)).toMatchObject({ account: 'world', balanceAfter: null })
    expect(walletBalances(created(await withdraw(t, alice.headers, wallet, '1.00')))).toEqual({
      [wallet]: '4.00',
    })
    expect(walletBalances(created(await deposit(t, service.headers, wallet, '1.00')))).toEqual({
      [wallet]: '5.00',
    })
  })
})

describe('payments', () => {
  it('a purchase shows the payer their balance and the merchant none', async () => {
    const wallet = (await openWallet(t, alice.headers, 'PLN')).id
    await fund(t, service.headers, wallet, '10.00')
    const posted = created(
      await postMoney(t, alice.headers, '/api/v1/purchases', {
        walletId: wallet,
        merchant: 'shop-1',
        amount: '3.00',
      }),
    )
    expect(walletBalances(posted)).toEqual({ [wallet]: '7.00' })
  })

  it("a hold's capture and void show the holder their balance", async () => {
    const wallet = (await openWallet(t, alice.headers, 'CZK')).id
    await fund(t, service.headers, wallet, '10.00')
    const hold = async () => {
      const response = await postMoney(t, alice.headers, '/api/v1/holds', {
        walletId: wallet,
        amount: '2.00',
        merchant: 'hotel',
      })
      expect(response.statusCode, response.body).toBe(201)
      return response.json<{ id: string }>().id
    }
    const captured = await postMoney(t, alice.headers, `/api/v1/holds/${await hold()}/capture`, {})
    expect(captured.statusCode, captured.body).toBe(201)
    expect(walletBalances(captured.json<{ transaction: TransactionView }>().transaction)).toEqual({
      [wallet]: '8.00',
    })
    const voided = await postMoney(t, alice.headers, `/api/v1/holds/${await hold()}/void`, {})
    expect(voided.statusCode, voided.body).toBe(201)
    // A void moves no money: it has no entries, so there is no balance to show or hide.
    expect(voided.json<{ transaction: TransactionView }>().transaction.entries).toEqual([])
  })

  it("a reversal of a transfer is read by each party without the other's balance", async () => {
    const { from, to } = await pairOfWallets('HUF')
    const original = created(
      await transfer(t, alice.headers, { fromWalletId: from, toWalletId: to, amount: '5.00' }),
    )
    const reversal = created(
      await postMoney(t, admin.headers, `/api/v1/transactions/${original.id}/reversal`, {
        reason: 'sent by mistake',
      }),
    )
    expect(walletBalances(reversal)).toEqual({ [from]: '50.00', [to]: '20.00' })
    expect(walletBalances(await readTransaction(alice.headers, reversal.id))).toEqual({
      [from]: '50.00',
      [to]: null,
    })
    expect(walletBalances(await readTransaction(bob.headers, reversal.id))).toEqual({
      [from]: null,
      [to]: '20.00',
    })
  })

  it('a refund of a purchase shows the payer their balance', async () => {
    const wallet = (await openWallet(t, alice.headers, 'RON')).id
    await fund(t, service.headers, wallet, '10.00')
    const purchase = created(
      await postMoney(t, alice.headers, '/api/v1/purchases', {
        walletId: wallet,
        merchant: 'shop-2',
        amount: '4.00',
      }),
    )
    const refund = created(
      await postMoney(t, service.headers, `/api/v1/transactions/${purchase.id}/reversal`, {
        reason: 'returned',
      }),
    )
    expect(walletBalances(await readTransaction(alice.headers, refund.id))).toEqual({ [wallet]: '10.00' })
  })
})

describe('exchanges', () => {
  beforeAll(async () => {
    for (const base of ['USD', 'EUR']) {
      const rate = await t.app.inject({
        method: 'PUT',
        url: `/api/v1/fx-rates/${base}/JPY`,
        headers: admin.headers,
        payload: { rate: '150' },
      })
      expect(rate.statusCode, rate.body).toBe(201)
    }
  })

  it('between two wallets of one user shows that user both balances', async () => {
    const [usd, jpy] = await Promise.all([
      openWallet(t, alice.headers, 'USD'),
      openWallet(t, alice.headers, 'JPY'),
    ])
    await fund(t, service.headers, usd.id, '10.00')
    const response = await postMoney(t, alice.headers, '/api/v1/exchanges', {
      fromWalletId: usd.id,
      toWalletId: jpy.id,
      amount: '1.00',
    })
    expect(response.statusCode, response.body).toBe(201)
    const { transaction } = response.json<{ transaction: TransactionView }>()
    expect(walletBalances(transaction)).toEqual({ [usd.id]: '9.00', [jpy.id]: '150' })
    expect(walletBalances(await readTransaction(alice.headers, transaction.id))).toEqual({
      [usd.id]: '9.00',
      [jpy.id]: '150',
    })
  })

  it("between two users' wallets by an admin: the admin sees both, each user only their own", async () => {
    const [eur, jpy] = await Promise.all([
      openWallet(t, alice.headers, 'EUR'),
      openWallet(t, bob.headers, 'JPY'),
    ])
    await fund(t, service.headers, eur.id, '10.00')
    const response = await postMoney(t, admin.headers, '/api/v1/exchanges', {
      fromWalletId: eur.id,
      toWalletId: jpy.id,
      amount: '1.00',
    })
    expect(response.statusCode, response.body).toBe(201)
    const { transaction } = response.json<{ transaction: TransactionView }>()
    expect(walletBalances(transaction)).toEqual({ [eur.id]: '9.00', [jpy.id]: '150' })
    expect(walletBalances(await readTransaction(alice.headers, transaction.id))).toEqual({
      [eur.id]: '9.00',
      [jpy.id]: null,
    })
    expect(walletBalances(await readTransaction(bob.headers, transaction.id))).toEqual({
      [eur.id]: null,
      [jpy.id]: '150',
    })
  })
})

describe('the outbox', () => {
  it("keeps every balance: events are for Coffer's own consumers", async () => {
    const { from, to } = await pairOfWallets('NZD')
    const posted = created(
      await transfer(t, alice.headers, { fromWalletId: from, toWalletId: to, amount: '3.00' }),
    )
    const event = await t.database.db
      .selectFrom('outbox')
      .select('payload')
      .where('aggregate_id', '=', posted.id)
      .where('type', '=', 'transaction.posted')
      .executeTakeFirstOrThrow()
    expect(walletBalances(event.payload as TransactionView)).toEqual({ [from]: '47.00', [to]: '23.00' })
  })
})
