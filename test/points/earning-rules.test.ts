import { afterAll, beforeAll, expect, it } from 'vitest'
import { PointsService } from '../../src/points/points.service.js'
import { HistoryCursors } from '../../src/wallets/history-cursor.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent, idempotencyKey } from '../ledger.js'
import { fund, openWallet } from '../wallets/fixtures.js'
import { pointsOf } from './fixtures.js'

let t: TestApp
let admin: SignedUpUser
let service: CreatedApiKey

beforeAll(async () => {
  t = await createTestApp()
  admin = await signUp(t, { roles: ['admin'] })
  service = await createApiKey(t, ['service'])
})
afterAll(() => t.close())

function putRules(headers: { authorization: string }, rules: unknown[]) {
  return t.app.inject({ method: 'PUT', url: '/api/v1/points/rules', headers, payload: { rules } })
}

function post(headers: { authorization: string }, url: string, payload: Record<string, unknown>) {
  return t.app.inject({
    method: 'POST',
    url,
    headers: { ...headers, 'idempotency-key': idempotencyKey('rules') },
    payload,
  })
}

it('takes and shows rules from admins only, and refuses rules that make no sense', async () => {
  const user = await signUp(t)
  expect((await putRules(user.headers, [])).statusCode).toBe(403)
  for (const [rule, reason] of [
    [{ currency: 'XXQ', pointsPerUnit: '1', pendingDays: 0 }, 'unknown currency'],
    [{ currency: 'USD', pointsPerUnit: '0', pendingDays: 0 }, 'pointsPerUnit'],
    [{ currency: 'USD', pointsPerUnit: '1', pendingDays: 10, expiryDays: 10 }, 'expiryDays'],
  ] as const) {
    const refused = await putRules(admin.headers, [rule])
    expect(refused.statusCode).toBe(422)
    expect(refused.json()).toMatchObject({ code: 'invalid_earning_rules' })
    expect(refused.json().reason).toContain(reason)
  }
  const set = await putRules(admin.headers, [
    { currency: 'usd', pointsPerUnit: '1', pendingDays: 14, expiryDays: 365 },
    { currency: 'USD', pointsPerUnit: '3', merchant: 'shop-vip', pendingDays: 0 },
  ])
  expect(set.statusCode, set.body).toBe(200)
  const read = await t.app.inject({ method: 'GET', url: '/api/v1/points/rules', headers: admin.headers })
  expect(read.json().rules).toEqual([
    { currency: 'USD', pointsPerUnit: '1', merchant: null, pendingDays: 14, expiryDays: 365 },
    { currency: 'USD', pointsPerUnit: '3', merchant: 'shop-vip', pendingDays: 0, expiryDays: null },
  ])
})

it('earns pending points with a purchase, makes them available after the window, and claws them back on refunds', async () => {
  await putRules(admin.headers, [
    { currency: 'USD', pointsPerUnit: '1', pendingDays: 14, expiryDays: 365 },
    { currency: 'USD', pointsPerUnit: '3', merchant: 'shop-vip', pendingDays: 0 },
  ])
  const ada = await signUp(t)
  const usd = await openWallet(t, ada.headers, 'USD')
  const eur = await openWallet(t, ada.headers, 'EUR')
  await fund(t, service.headers, usd.id, '100.00')
  await fund(t, service.headers, eur.id, '100.00')

  const purchase = await post(ada.headers, '/api/v1/purchases', {
    walletId: usd.id,
    merchant: 'shop-1',
    amount: '25.99',
    orderId: 'o-1',
  })
  expect(purchase.statusCode, purchase.body).toBe(201)
  expect(await pointsOf(t, ada.headers)).toMatchObject({ total: '25', available: '0', pending: '25' })

  // No rule for EUR: no points. A refused purchase earns nothing either.
  expect(
    (await post(ada.headers, '/api/v1/purchases', { walletId: eur.id, merchant: 'shop-1', amount: '50.00' }))
      .statusCode,
  ).toBe(201)
  const refused = await post(ada.headers, '/api/v1/purchases', {
    walletId: usd.id,
    merchant: 'shop-1',
    amount: '500.00',
  })
  expect(refused.json()).toMatchObject({ code: 'insufficient_funds' })
  // The merchant's own rule wins over the rule for all merchants.
  await post(ada.headers, '/api/v1/purchases', { walletId: usd.id, merchant: 'shop-vip', amount: '10.00' })
  expect(await pointsOf(t, ada.headers)).toMatchObject({ total: '55', available: '30', pending: '25' })

  // Fifteen days on, the return window is over.
  const later = new PointsService({
    db: t.database.db,
    engine: t.container.ledger,
    cursors: new HistoryCursors(t.database.db),
    expiringSoonDays: 400,
    userExists: async () => true,
    now: () => new Date(Date.now() + 15 * 86_400_000),
  })
  const principal = { kind: 'user' as const, id: ada.userId, userId: ada.userId, roles: ['user' as const] }
  expect(await later.account(principal)).toMatchObject({
    total: '55',
    available: '55',
    pending: '0',
    expiringSoon: { points: '25' },
  })

  // Refunds claw back their share of the purchase's 25 points: 10.00 of 25.99 is 9 of them.
  const purchaseId = purchase.json().id as string
  const refund = await post(service.headers, `/api/v1/transactions/${purchaseId}/reversal`, {
    amount: '10.00',
    reason: 'one item back',
  })
  expect(refund.statusCode, refund.body).toBe(201)
  expect(await pointsOf(t, ada.headers)).toMatchObject({ total: '46', available: '46' })
  // She spends 40 (the purchase's 16 first, as they lapse), then the rest is refunded: the 16 asked
  // back are gone, and are the lot's shortfall.
  expect((await post(ada.headers, '/api/v1/points/spend', { points: '40', source: 'shop' })).statusCode).toBe(
    201,
  )
  await post(service.headers, `/api/v1/transactions/${purchaseId}/reversal`, { reason: 'all back' })
  const after = await pointsOf(t, ada.headers)
  expect(after.total).toBe('6')
  const lot = await t.database.db
    .selectFrom('point_lots')
    .select(['clawed_back', 'shortfall', 'remaining'])
    .where('purchase_transaction_id', '=', purchaseId)
    .executeTakeFirstOrThrow()
  expect(lot).toEqual({ clawed_back: 25n, shortfall: 16n, remaining: 0n })
  await expectLedgerConsistent(t.database.db)
})
