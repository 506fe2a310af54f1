import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { releaseOverdueHolds } from '../../src/ledger/hold-expiry.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent, idempotencyKey, systemBalance } from '../ledger.js'

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

type Caller = { headers: { authorization: string } }

function post(caller: Caller, url: string, payload: Record<string, unknown> = {}, key = idempotencyKey()) {
  return t.app.inject({
    method: 'POST',
    url,
    headers: { ...caller.headers, 'idempotency-key': key },
    payload,
  })
}

/** A user has one wallet per currency, so each test wallet gets a fresh owner. */
async function fundedWallet(currency: string, amount: string): Promise<{ id: string; owner: SignedUpUser }> {
  const owner = await signUp(t)
  const created = await t.app.inject({
    method: 'POST',
    url: '/api/v1/wallets',
    headers: owner.headers,
    payload: { currency },
  })
  const id = created.json().id as string
  if (amount !== '0') {
    const deposit = await post(service, `/api/v1/wallets/${id}/deposits`, { amount })
    expect(deposit.statusCode, deposit.body).toBe(201)
  }
  return { id, owner }
}

async function wallet(owner: Caller, id: string) {
  const response = await t.app.inject({ method: 'GET', url: `/api/v1/wallets/${id}`, headers: owner.headers })
  expect(response.statusCode, response.body).toBe(200)
  return response.json() as { balance: string; available: string; pending: string }
}

async function outboxTypes(aggregateId: string): Promise<string[]> {
  const rows = await t.database.db
    .selectFrom('outbox')
    .select('type')
    .where('aggregate_id', '=', aggregateId)
    .orderBy('id')
    .execute()
  return rows.map((r) => r.type)
}

describe('purchases', () => {
  it('moves money from the wallet to merchant:<id> and records purchase.completed', async () => {
    const { id: walletId, owner: alice } = await fundedWallet('USD', '20.00')
    const before = await systemBalance(t.database.db, 'merchant:shop-1', 'USD')
    const response = await post(alice, '/api/v1/purchases', {
      walletId,
      merchant: 'shop-1',
      amount: '7.25',
      orderId: 'order-77',
    })
    expect(response.statusCode, response.body).toBe(201)
    const transaction = response.json()
    expect(transaction).toMatchObject({
      type: 'purchase',
      amount: '7.25',
      currency: 'USD',
      reference: 'order-77',
    })
    expect(transaction.entries).toEqual([
      { walletId, currency: 'USD', amount: '-7.25', balanceAfter: '12.75' },
      { account: 'merchant:shop-1', currency: 'USD', amount: '7.25', balanceAfter: null },
    ])
    expect(await systemBalance(t.database.db, 'merchant:shop-1', 'USD')).toBe(before + 725n)
    expect(await outboxTypes(transaction.id)).toEqual(['transaction.posted', 'purchase.completed'])
    const posted = await t.database.db
      .selectFrom('outbox')
      .select('payload')
      .where('aggregate_id', '=', transaction.id)
      .where('type', '=', 'transaction.posted')
      .executeTakeFirstOrThrow()
    // The event carries the transaction exactly as the API answered it, commit time included.
    expect(posted.payload).toEqual(transaction)
    expect((await wallet(alice, walletId)).balance).toBe('12.75')
    await expectLedgerConsistent(t.database.db)
  })

  it('refuses more than the available funds, and a foreign wallet', async () => {
    const { id: walletId, owner: alice } = await fundedWallet('EUR', '1.00')
    const tooMuch = await post(alice, '/api/v1/purchases', { walletId, merchant: 'shop-1', amount: '1.01' })
    expect(tooMuch.statusCode).toBe(422)
    expect(tooMuch.json()).toMatchObject({ code: 'insufficient_funds', available: '1.00' })
    const foreign = await post(bob, '/api/v1/purchases', { walletId, merchant: 'shop-1', amount: '0.50' })
    expect(foreign.statusCode).toBe(404)
  })
})

describe('holds', () => {
  it('a hold of 8.00 on 10.00 lowers available, not balance, and blocks a withdrawal of 3.00', async () => {
    const { id: walletId, owner: alice } = await fundedWallet('GBP', '10.00')
    const hold = await post(alice, '/api/v1/holds', { walletId, amount: '8.00', merchant: 'hotel' })
    expect(hold.statusCode, hold.body).toBe(201)
    expect(hold.json()).toMatchObject({
      status: 'pending',
      amount: '8.00',
      capturedAmount: null,
      merchant: 'hotel',
    })
    expect(await wallet(alice, walletId)).toMatchObject({
      balance: '10.00',
      available: '2.00',
      pending: '8.00',
    })
    const withdrawal = await post(alice, `/api/v1/wallets/${walletId}/withdrawals`, { amount: '3.00' })
    expect(withdrawal.statusCode).toBe(422)
    expect(withdrawal.json()).toMatchObject({ code: 'insufficient_funds', available: '2.00' })
    expect(await outboxTypes(hold.json().id)).toEqual(['hold.created'])
    await expectLedgerConsistent(t.database.db)
  })

  it('a partial capture of 6.00 of 8.00 pays the merchant 6.00 and gives 2.00 back to available', async () => {
    const { id: walletId, owner: alice } = await fundedWallet('CAD', '10.00')
    const holdId = (
      await post(alice, '/api/v1/holds', { walletId, amount: '8.00', merchant: 'hotel' })
    ).json().id
    const merchantBefore = await systemBalance(t.database.db, 'merchant:hotel', 'CAD')
    const capture = await post(service, `/api/v1/holds/${holdId}/capture`, { amount: '6.00' })
    expect(capture.statusCode, capture.body).toBe(201)
    expect(capture.json().hold).toMatchObject({ status: 'captured', capturedAmount: '6.00' })
    expect(capture.json().transaction).toMatchObject({ type: 'capture', amount: '6.00' })
    expect(await systemBalance(t.database.db, 'merchant:hotel', 'CAD')).toBe(merchantBefore + 600n)
    expect(await wallet(alice, walletId)).toMatchObject({
      balance: '4.00',
      available: '4.00',
      pending: '0.00',
    })
    expect(await outboxTypes(holdId)).toEqual(['hold.created', 'hold.captured'])

    const again = await post(service, `/api/v1/holds/${holdId}/capture`, {})
    expect(again.statusCode).toBe(409)
    expect(again.json()).toMatchObject({ code: 'hold_not_pending', holdStatus: 'captured' })
    const voided = await post(alice, `/api/v1/holds/${holdId}/void`)
    expect(voided.json().code).toBe('hold_not_pending')
    await expectLedgerConsistent(t.database.db)
  })

  it('refuses to capture more than held, or without a merchant', async () => {
    const { id: walletId, owner: alice } = await fundedWallet('AUD', '10.00')
    const withMerchant = (
      await post(alice, '/api/v1/holds', { walletId, amount: '5.00', merchant: 'm1' })
    ).json().id
    const tooMuch = await post(service, `/api/v1/holds/${withMerchant}/capture`, { amount: '5.01' })
    expect(tooMuch.statusCode).toBe(422)
    expect(tooMuch.json().code).toBe('capture_exceeds_hold')
    const noMerchant = (await post(alice, '/api/v1/holds', { walletId, amount: '1.00' })).json().id
    const refused = await post(service, `/api/v1/holds/${noMerchant}/capture`, {})
    expect(refused.json().code).toBe('merchant_required')
    const named = await post(service, `/api/v1/holds/${noMerchant}/capture`, { merchant: 'm2' })
    expect(named.statusCode).toBe(201)
  })

  it('a void releases the whole reserve and is final', async () => {
    const { id: walletId, owner: alice } = await fundedWallet('CHF', '10.00')
    const holdId = (await post(alice, '/api/v1/holds', { walletId, amount: '9.99' })).json().id
    const voided = await post(alice, `/api/v1/holds/${holdId}/void`)
    expect(voided.statusCode, voided.body).toBe(201)
    expect(voided.json().hold.status).toBe('voided')
    expect(voided.json().transaction).toMatchObject({ type: 'void', amount: '9.99', entries: [] })
    expect(await wallet(alice, walletId)).toMatchObject({
      balance: '10.00',
      available: '10.00',
      pending: '0.00',
    })
    const capture = await post(service, `/api/v1/holds/${holdId}/capture`, { merchant: 'x' })
    expect(capture.statusCode).toBe(409)
    expect(await outboxTypes(holdId)).toEqual(['hold.created', 'hold.voided'])
  })

  it('50 concurrent captures and voids of one hold: exactly one wins', async () => {
    const { id: walletId, owner: alice } = await fundedWallet('JPY', '1000')
    const holdId = (await post(alice, '/api/v1/holds', { walletId, amount: '800', merchant: 'race' })).json()
      .id
    const attempts = Array.from({ length: 50 }, (_, i) =>
      i % 2 === 0
        ? post(service, `/api/v1/holds/${holdId}/capture`, {})
        : post(alice, `/api/v1/holds/${holdId}/void`),
    )
    const statuses = (await Promise.all(attempts)).map((r) => r.statusCode)
    expect(statuses.filter((s) => s === 201)).toHaveLength(1)
    expect(statuses.filter((s) => s === 409)).toHaveLength(49)
    const settled = await t.database.db
      .selectFrom('transactions')
      .select('type')
      .where('type', 'in', ['capture', 'void'])
      .where('metadata', 'is not', null)
      .execute()
    expect(settled.length).toBeGreaterThan(0)
    await expectLedgerConsistent(t.database.db)
  })

  it('an expired hold is released lazily on read, by a movement, and by the worker, each a recorded transaction', async () => {
    const soon = () => new Date(Date.now() + 3_600_000).toISOString()
    const { id: onRead, owner: reader } = await fundedWallet('SEK', '10.00')
    const readHold = (
      await post(reader, '/api/v1/holds', { walletId: onRead, amount: '4.00', expiresAt: soon() })
    ).json()
    const { id: onMove, owner: mover } = await fundedWallet('NOK', '10.00')
    await post(mover, '/api/v1/holds', { walletId: onMove, amount: '10.00', expiresAt: soon() })
    const { id: bySweep, owner: idle } = await fundedWallet('DKK', '10.00')
    const sweepHold = (
      await post(idle, '/api/v1/holds', { walletId: bySweep, amount: '1.00', expiresAt: soon() })
    ).json()
    // Read from the table, not the API: a GET would cache the wallet with the hold's real expiry,
    // which the time travel below changes behind the app's back.
    const held = await sql<{
      pending: string
    }>`select pending::text from accounts where id = ${onRead}`.execute(t.database.db)
    expect(held.rows[0]!.pending).toBe('400')
    // Time travel instead of sleeping: the expiries pass without racing a slow machine.
    await sql`update holds set expires_at = now() - interval '1 second' where wallet_id in (${onRead}, ${onMove}, ${bySweep})`.execute(
      t.database.db,
    )

    expect(await wallet(reader, onRead)).toMatchObject({
      balance: '10.00',
      available: '10.00',
      pending: '0.00',
    })
    const expired = await t.app.inject({
      method: 'GET',
      url: `/api/v1/holds/${readHold.id}`,
      headers: reader.headers,
    })
    expect(expired.json().status).toBe('expired')
    const release = await t.app.inject({
      method: 'GET',
      url: `/api/v1/transactions/${expired.json().settledTransactionId}`,
      headers: reader.headers,
    })
    expect(release.json()).toMatchObject({ type: 'void', amount: '4.00', flags: ['expired'] })
    expect(await outboxTypes(readHold.id)).toEqual(['hold.created', 'hold.expired'])

    const withdrawal = await post(mover, `/api/v1/wallets/${onMove}/withdrawals`, { amount: '10.00' })
    expect(withdrawal.statusCode, withdrawal.body).toBe(201)

    expect(await releaseOverdueHolds(t.database.db, t.container.ledger)).toBeGreaterThanOrEqual(1)
    const swept = await t.database.db
      .selectFrom('holds')
      .select('status')
      .where('id', '=', sweepHold.id)
      .executeTakeFirst()
    expect(swept?.status).toBe('expired')
    const capture = await post(service, `/api/v1/holds/${sweepHold.id}/capture`, { merchant: 'late' })
    expect(capture.json()).toMatchObject({ code: 'hold_not_pending', holdStatus: 'expired' })
    await expectLedgerConsistent(t.database.db)
  })

  it('lists a wallet’s holds and hides another user’s hold', async () => {
    const { id: walletId, owner: bob } = await fundedWallet('PLN', '5.00')
    const holdId = (await post(bob, '/api/v1/holds', { walletId, amount: '1.00' })).json().id
    const list = await t.app.inject({
      method: 'GET',
      url: `/api/v1/wallets/${walletId}/holds`,
      headers: bob.headers,
    })
    expect(list.json().items.map((h: { id: string }) => h.id)).toEqual([holdId])
    const hidden = await t.app.inject({
      method: 'GET',
      url: `/api/v1/holds/${holdId}`,
      headers: alice.headers,
    })
    expect(hidden.statusCode).toBe(404)
    const foreignVoid = await post(alice, `/api/v1/holds/${holdId}/void`)
    expect(foreignVoid.statusCode).toBe(404)
  })
})

describe('reversals and refunds', () => {
  it('two partial refunds of 4.00 of a 6.00 purchase: the second is refused', async () => {
    const { id: walletId, owner: alice } = await fundedWallet('USD', '10.00')
    const purchase = (
      await post(alice, '/api/v1/purchases', { walletId, merchant: 'refunds', amount: '6.00' })
    ).json()
    const first = await post(service, `/api/v1/transactions/${purchase.id}/reversal`, {
      amount: '4.00',
      reason: 'damaged',
    })
    expect(first.statusCode, first.body).toBe(201)
    expect(first.json()).toMatchObject({ type: 'reversal', amount: '4.00', reversesId: purchase.id })
    expect(first.json().entries).toEqual([
      { walletId, currency: 'USD', amount: '4.00', balanceAfter: '8.00' },
      { account: 'merchant:refunds', currency: 'USD', amount: '-4.00', balanceAfter: null },
    ])
    const second = await post(service, `/api/v1/transactions/${purchase.id}/reversal`, {
      amount: '4.00',
      reason: 'again',
    })
    expect(second.statusCode).toBe(422)
    expect(second.json()).toMatchObject({ code: 'reversal_exceeds_original', remaining: '2.00' })
    const rest = await post(service, `/api/v1/transactions/${purchase.id}/reversal`, { reason: 'the rest' })
    expect(rest.json()).toMatchObject({ amount: '2.00' })
    expect(await outboxTypes(purchase.id)).toContain('transaction.reversed')
    await expectLedgerConsistent(t.database.db)
  })

  it('concurrent partial reversals never add up to more than the original', async () => {
    const { id: walletId, owner: alice } = await fundedWallet('EUR', '10.00')
    const purchase = (
      await post(alice, '/api/v1/purchases', { walletId, merchant: 'race', amount: '10.00' })
    ).json()
    const attempts = await Promise.all(
      Array.from({ length: 20 }, () =>
        post(service, `/api/v1/transactions/${purchase.id}/reversal`, { amount: '1.00', reason: 'race' }),
      ),
    )
    expect(attempts.filter((r) => r.statusCode === 201)).toHaveLength(10)
    expect(attempts.filter((r) => r.statusCode === 422)).toHaveLength(10)
    expect((await wallet(alice, walletId)).balance).toBe('10.00')
    await expectLedgerConsistent(t.database.db)
  })

  it('a reversal the payee cannot fund fails, unless an admin forces it, which is flagged', async () => {
    const { id: from, owner: alice } = await fundedWallet('GBP', '50.00')
    const { id: to, owner: bob } = await fundedWallet('GBP', '0')
    const transfer = (
      await post(alice, '/api/v1/transfers', { fromWalletId: from, toWalletId: to, amount: '30.00' })
    ).json()
    await post(bob, `/api/v1/wallets/${to}/withdrawals`, { amount: '25.00' })

    const refused = await post(service, `/api/v1/transactions/${transfer.id}/reversal`, { reason: 'fraud' })
    expect(refused.statusCode).toBe(422)
    expect(refused.json()).toMatchObject({ code: 'insufficient_funds', walletId: to })
    const serviceForce = await post(service, `/api/v1/transactions/${transfer.id}/reversal`, {
      reason: 'fraud',
      force: true,
    })
    expect(serviceForce.statusCode).toBe(403)
    const forced = await post(admin, `/api/v1/transactions/${transfer.id}/reversal`, {
      reason: 'fraud',
      force: true,
    })
    expect(forced.statusCode, forced.body).toBe(201)
    expect(forced.json().flags).toEqual(['forced'])
    expect((await wallet(bob, to)).balance).toBe('-25.00')
    expect((await wallet(alice, from)).balance).toBe('50.00')
    // A deposit into the overdrawn wallet still goes through.
    expect((await post(service, `/api/v1/wallets/${to}/deposits`, { amount: '5.00' })).statusCode).toBe(201)
    await expectLedgerConsistent(t.database.db)
  })

  it('refuses reversing a reversal, a hold, and reversals by users', async () => {
    const { id: walletId, owner: alice } = await fundedWallet('CAD', '10.00')
    const deposits = await t.app.inject({
      method: 'GET',
      url: `/api/v1/wallets/${walletId}/transactions`,
      headers: alice.headers,
    })
    const depositId = deposits.json().items[0].transactionId
    const byUser = await post(alice, `/api/v1/transactions/${depositId}/reversal`, { reason: 'mine' })
    expect(byUser.statusCode).toBe(403)
    const reversal = (
      await post(admin, `/api/v1/transactions/${depositId}/reversal`, { reason: 'wrong deposit' })
    ).json()
    const ofReversal = await post(admin, `/api/v1/transactions/${reversal.id}/reversal`, { reason: 'undo' })
    expect(ofReversal.json().code).toBe('not_reversible')
    const hold = (await post(alice, '/api/v1/holds', { walletId, amount: '0.00' })).json()
    expect(hold.code).toBe('invalid_amount')
    const unknown = await post(admin, '/api/v1/transactions/01900000-0000-7000-8000-000000000000/reversal', {
      reason: 'x',
    })
    expect(unknown.statusCode).toBe(404)
  })
})

describe('amount precision', () => {
  it('every route that takes an amount refuses more decimals than the currency has', async () => {
    const { id: walletId, owner: alice } = await fundedWallet('JPY', '100')
    const holdId = (await post(alice, '/api/v1/holds', { walletId, amount: '10', merchant: 'm' })).json().id
    const purchase = (
      await post(alice, '/api/v1/purchases', { walletId, merchant: 'm', amount: '10' })
    ).json()
    const attempts = await Promise.all([
      post(alice, '/api/v1/purchases', { walletId, merchant: 'm', amount: '1.5' }),
      post(alice, '/api/v1/holds', { walletId, amount: '1.5' }),
      post(service, `/api/v1/holds/${holdId}/capture`, { amount: '1.5' }),
      post(service, `/api/v1/transactions/${purchase.id}/reversal`, { amount: '1.5', reason: 'x' }),
      post(alice, `/api/v1/wallets/${walletId}/withdrawals`, { amount: '1.5' }),
      post(service, `/api/v1/wallets/${walletId}/deposits`, { amount: '1.5' }),
    ])
    for (const response of attempts) {
      expect(response.statusCode, response.body).toBe(422)
      expect(response.json()).toMatchObject({ code: 'invalid_amount', reason: 'too_precise', decimals: 0 })
    }
    expect(await wallet(alice, walletId)).toMatchObject({ balance: '90', pending: '10' })
  })
})
