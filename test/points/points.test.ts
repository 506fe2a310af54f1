import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyLedger } from '../../src/ledger/verify.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent, idempotencyKey, systemBalance } from '../ledger.js'
import { earn, pointsOf, postPoints } from './fixtures.js'

let t: TestApp
let admin: SignedUpUser
let service: CreatedApiKey

beforeAll(async () => {
  t = await createTestApp()
  admin = await signUp(t, { roles: ['admin'] })
  service = await createApiKey(t, ['service'])
})
afterAll(() => t.close())

const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString()

async function outboxTypes(accountId: string): Promise<string[]> {
  const rows = await t.database.db
    .selectFrom('outbox')
    .select('type')
    .where('aggregate_id', '=', accountId)
    .orderBy('seq' as never)
    .execute()
  return rows.map((r) => r.type)
}

describe('earn, spend and read', () => {
  it('earns into lots, spends the soonest to lapse first, and shows every figure', async () => {
    const ada = await signUp(t)
    const late = await earn(t, service.headers, { userId: ada.userId, points: '100', expiresAt: inDays(200) })
    const soon = await earn(t, service.headers, { userId: ada.userId, points: '50', expiresAt: inDays(10) })
    const never = await earn(t, admin.headers, { userId: ada.userId, points: '30' })
    const pending = await earn(t, service.headers, {
      userId: ada.userId,
      points: '20',
      pendingUntil: inDays(3),
      expiresAt: inDays(20),
    })

    expect(await pointsOf(t, ada.headers)).toMatchObject({
      userId: ada.userId,
      asset: 'PTS',
      total: '200',
      available: '180',
      pending: '20',
      expiringSoon: { points: '70', withinDays: 30 },
    })

    const spent = await postPoints(t, ada.headers, '/spend', { points: '120', source: 'reward-shop' })
    expect(spent.statusCode, spent.body).toBe(201)
    expect(spent.json()).toMatchObject({
      points: '120',
      total: '80',
      available: '60',
      pending: '20',
      draws: [
        { lotId: soon.lot.id, points: '50' },
        { lotId: late.lot.id, points: '70' },
      ],
    })

    const lots = await t.app.inject({ method: 'GET', url: '/api/v1/points/lots', headers: ada.headers })
    expect(lots.json().items.map((l: { id: string; remaining: string }) => [l.id, l.remaining])).toEqual([
      [pending.lot.id, '20'],
      [late.lot.id, '30'],
      [never.lot.id, '30'],
    ])

    const history = await t.app.inject({
      method: 'GET',
      url: '/api/v1/points/transactions',
      headers: ada.headers,
    })
    expect(
      history
        .json()
        .items.map((i: { type: string; points: string; pointsAfter: string }) => [
          i.type,
          i.points,
          i.pointsAfter,
        ]),
    ).toEqual([
      ['points_spend', '-120', '80'],
      ['points_earn', '20', '200'],
      ['points_earn', '30', '180'],
      ['points_earn', '50', '150'],
      ['points_earn', '100', '100'],
    ])
    const account = await pointsOf(t, ada.headers)
    expect(await outboxTypes(account.accountId!)).toEqual([
      'points.earned',
      'points.earned',
      'points.earned',
      'points.earned',
      'points.spent',
    ])
    await expectLedgerConsistent(t.database.db)
  })

  it('refuses a spend beyond the available points with insufficient_points, changing nothing', async () => {
    const bob = await signUp(t)
    await earn(t, service.headers, { userId: bob.userId, points: '10' })
    await earn(t, service.headers, { userId: bob.userId, points: '5', pendingUntil: inDays(1) })
    const refused = await postPoints(t, bob.headers, '/spend', { points: '11', source: 'shop' })
    expect(refused.statusCode).toBe(422)
    expect(refused.json()).toMatchObject({ code: 'insufficient_points', available: '10', requested: '11' })
    expect(await pointsOf(t, bob.headers)).toMatchObject({ total: '15', available: '10', pending: '5' })
    const never = await postPoints(t, (await signUp(t)).headers, '/spend', { points: '1', source: 'shop' })
    expect(never.json()).toMatchObject({ code: 'insufficient_points', available: '0' })
  })

  it('lets a service spend for a user it names, and pages history with a cursor and a type filter', async () => {
    const cy = await signUp(t)
    for (let i = 1; i <= 5; i++) await earn(t, service.headers, { userId: cy.userId, points: `${i}` })
    const spent = await postPoints(t, service.headers, '/spend', {
      userId: cy.userId,
      points: '4',
      source: 'till',
    })
    expect(spent.statusCode, spent.body).toBe(201)
    const first = await t.app.inject({
      method: 'GET',
      url: `/api/v1/points/transactions?userId=${cy.userId}&limit=2&type=points_earn`,
      headers: service.headers,
    })
    expect(first.json().items.map((i: { points: string }) => i.points)).toEqual(['5', '4'])
    const second = await t.app.inject({
      method: 'GET',
      url: `/api/v1/points/transactions?limit=2&type=points_earn&cursor=${first.json().nextCursor}`,
      headers: cy.headers,
    })
    expect(second.json().items.map((i: { points: string }) => i.points)).toEqual(['3', '2'])
    const mine = await t.app.inject({
      method: 'GET',
      url: `/api/v1/points/transactions?cursor=${first.json().nextCursor}`,
      headers: (await signUp(t)).headers,
    })
    expect(mine.statusCode).toBe(400)
  })
})

describe('adjust and reverse', () => {
  it('adds a lot or draws like a spend, never below zero', async () => {
    const dee = await signUp(t)
    const added = await postPoints(t, admin.headers, '/adjust', {
      userId: dee.userId,
      points: '40',
      reason: 'goodwill',
      expiresAt: inDays(5),
    })
    expect(added.statusCode, added.body).toBe(201)
    expect(added.json()).toMatchObject({ points: '40', total: '40', lot: { remaining: '40' } })
    const taken = await postPoints(t, admin.headers, '/adjust', {
      userId: dee.userId,
      points: '-15',
      reason: 'oops',
    })
    expect(taken.json()).toMatchObject({ points: '-15', total: '25', lot: null })
    const below = await postPoints(t, admin.headers, '/adjust', {
      userId: dee.userId,
      points: '-26',
      reason: 'no',
    })
    expect(below.json()).toMatchObject({ code: 'insufficient_points' })
    const byService = await postPoints(t, service.headers, '/adjust', {
      userId: dee.userId,
      points: '1',
      reason: 'x',
    })
    expect(byService.statusCode).toBe(403)
  })

  it('returns a reversed spend to its lots, and claws back a reversed earn with its shortfall', async () => {
    const eve = await signUp(t)
    const a = await earn(t, service.headers, { userId: eve.userId, points: '30', expiresAt: inDays(3) })
    const b = await earn(t, service.headers, { userId: eve.userId, points: '30' })
    const spend = await postPoints(t, eve.headers, '/spend', { points: '40', source: 'order-1' })
    const spendId = spend.json().transactionId as string

    const reversed = await postPoints(t, service.headers, `/transactions/${spendId}/reverse`, {
      reason: 'order 1 cancelled',
    })
    expect(reversed.statusCode, reversed.body).toBe(201)
    expect(reversed.json()).toMatchObject({
      kind: 'returned',
      points: '40',
      total: '60',
      lots: [
        { lotId: a.lot.id, points: '30', outcome: 'returned' },
        { lotId: b.lot.id, points: '10', outcome: 'returned' },
      ],
    })
    const again = await postPoints(t, service.headers, `/transactions/${spendId}/reverse`, {
      reason: 'twice',
    })
    expect(again.json()).toMatchObject({ code: 'points_already_reversed' })

    await postPoints(t, eve.headers, '/spend', { points: '50', source: 'order-2' })
    const clawed = await postPoints(t, admin.headers, `/transactions/${b.transactionId}/reverse`, {
      reason: 'fraud',
    })
    expect(clawed.json()).toMatchObject({ kind: 'clawed_back', points: '10', shortfall: '20', total: '0' })
    expect(await pointsOf(t, eve.headers)).toMatchObject({ total: '0', available: '0', pending: '0' })
    const user = await postPoints(t, eve.headers, `/transactions/${a.transactionId}/reverse`, {
      reason: 'me',
    })
    expect(user.statusCode).toBe(403)
    const unknown = await postPoints(t, admin.headers, `/transactions/${randomUUID()}/reverse`, {
      reason: 'x',
    })
    expect(unknown.json()).toMatchObject({ code: 'points_transaction_not_found' })
    await expectLedgerConsistent(t.database.db)
  })
})

describe('bad input and access', () => {
  it.each([
    ['0', 'must not be zero'],
    ['-5', 'must be positive'],
    ['1.5', 'must be a whole number'],
    ['1000000000000001', 'must be at most'],
    ['ten', 'decimal digits'],
  ])('refuses %j points with invalid_points and changes nothing', async (points, reason) => {
    const user = await signUp(t)
    const response = await postPoints(t, service.headers, '/earn', {
      userId: user.userId,
      points,
      source: 's',
    })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toMatchObject({ code: 'invalid_points' })
    expect(response.json().reason).toContain(reason)
    expect((await pointsOf(t, user.headers)).accountId).toBeNull()
  })

  it('refuses points as a JSON number, an unknown user, and dates that make no sense', async () => {
    const user = await signUp(t)
    const number = await postPoints(t, service.headers, '/earn', {
      userId: user.userId,
      points: 5,
      source: 's',
    })
    expect(number.statusCode).toBe(400)
    const unknown = await postPoints(t, service.headers, '/earn', {
      userId: randomUUID(),
      points: '5',
      source: 's',
    })
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json()).toMatchObject({ code: 'points_user_not_found' })
    const past = await postPoints(t, service.headers, '/earn', {
      userId: user.userId,
      points: '5',
      source: 's',
      expiresAt: inDays(-1),
    })
    expect(past.json()).toMatchObject({ code: 'invalid_point_dates' })
    const beforeAvailable = await postPoints(t, service.headers, '/earn', {
      userId: user.userId,
      points: '5',
      source: 's',
      pendingUntil: inDays(10),
      expiresAt: inDays(5),
    })
    expect(beforeAvailable.json()).toMatchObject({ code: 'invalid_point_dates' })
    const noKey = await t.app.inject({
      method: 'POST',
      url: '/api/v1/points/earn',
      headers: service.headers,
      payload: { userId: user.userId, points: '5', source: 's' },
    })
    expect(noKey.statusCode).toBe(400)
  })

  it('keeps earning to operators and another user’s account out of sight (404)', async () => {
    const [fay, gus] = await Promise.all([signUp(t), signUp(t)])
    const self = await postPoints(t, fay.headers, '/earn', { userId: fay.userId, points: '5', source: 's' })
    expect(self.statusCode).toBe(403)
    await earn(t, service.headers, { userId: gus.userId, points: '5' })
    for (const url of [
      `/api/v1/points?userId=${gus.userId}`,
      `/api/v1/points/lots?userId=${gus.userId}`,
      `/api/v1/points/transactions?userId=${gus.userId}`,
    ]) {
      const response = await t.app.inject({ method: 'GET', url, headers: fay.headers })
      expect(response.statusCode, url).toBe(404)
    }
    const spend = await postPoints(t, fay.headers, '/spend', { userId: gus.userId, points: '1', source: 's' })
    expect(spend.statusCode).toBe(404)
    expect((await pointsOf(t, gus.headers)).total).toBe('5')
    const serviceSelf = await t.app.inject({ method: 'GET', url: '/api/v1/points', headers: service.headers })
    expect(serviceSelf.json()).toMatchObject({ code: 'points_user_required' })
  })

  it('answers a replay from the first request and moves nothing twice', async () => {
    const hal = await signUp(t)
    const key = idempotencyKey('earn')
    const body = { userId: hal.userId, points: '7', source: 's' }
    const first = await postPoints(t, service.headers, '/earn', body, key)
    const replay = await postPoints(t, service.headers, '/earn', body, key)
    expect(replay.statusCode).toBe(201)
    expect(replay.headers['idempotency-replayed']).toBe('true')
    expect(replay.body).toBe(first.body)
    const other = await postPoints(t, service.headers, '/earn', { ...body, points: '8' }, key)
    expect(other.json()).toMatchObject({ code: 'idempotency_key_reused' })
    expect((await pointsOf(t, hal.headers)).total).toBe('7')
  })
})

describe('the wallet API never reaches points', () => {
  it('refuses a PTS wallet and answers 404 for a point account through every wallet route', async () => {
    const ivy = await signUp(t)
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/wallets',
      headers: ivy.headers,
      payload: { currency: 'pts' },
    })
    expect(created.statusCode).toBe(422)
    expect(created.json()).toMatchObject({ code: 'point_asset_not_a_wallet' })

    const earned = await earn(t, service.headers, { userId: ivy.userId, points: '9' })
    const { accountId } = await pointsOf(t, ivy.headers)
    for (const [method, url, payload] of [
      ['GET', `/api/v1/wallets/${accountId}`, undefined],
      ['GET', `/api/v1/wallets/${accountId}/transactions`, undefined],
      ['GET', `/api/v1/transactions/${earned.transactionId}`, undefined],
      ['POST', `/api/v1/wallets/${accountId}/deposits`, { amount: '5' }],
      ['POST', `/api/v1/wallets/${accountId}/withdrawals`, { amount: '5' }],
      ['POST', '/api/v1/purchases', { walletId: accountId, merchant: 'm', amount: '5' }],
      ['POST', '/api/v1/holds', { walletId: accountId, amount: '5' }],
      ['POST', `/api/v1/wallets/${accountId}/freeze`, {}],
    ] as const) {
      const response = await t.app.inject({
        method,
        url,
        headers: { ...admin.headers, 'idempotency-key': idempotencyKey() },
        ...(payload ? { payload } : {}),
      })
      expect(response.statusCode, `${method} ${url}: ${response.body}`).toBe(404)
    }
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/wallets', headers: ivy.headers })
    expect(list.json().items).toEqual([])
    expect((await pointsOf(t, ivy.headers)).total).toBe('9')
  })
})

describe('verify', () => {
  it('balances points against points:issuer and catches a lot that disagrees with its account', async () => {
    const jo = await signUp(t)
    const earned = await earn(t, service.headers, { userId: jo.userId, points: '12' })
    await expectLedgerConsistent(t.database.db)
    const issued = await systemBalance(t.database.db, 'points:issuer', 'PTS')
    expect(issued).toBeLessThan(0n)

    await sql`update point_lots set remaining = remaining - 1 where id = ${earned.lot.id}`.execute(
      t.database.db,
    )
    const violations = await verifyLedger(t.database.db)
    expect(violations.map((v) => v.check)).toEqual(['point-available-equals-available-lots'])
    await sql`update point_lots set remaining = remaining + 1, status = 'pending' where id = ${earned.lot.id}`.execute(
      t.database.db,
    )
    expect((await verifyLedger(t.database.db)).map((v) => v.check).sort()).toEqual([
      'point-available-equals-available-lots',
      'point-pending-equals-pending-lots',
    ])
    await sql`update point_lots set status = 'available' where id = ${earned.lot.id}`.execute(t.database.db)
    await expectLedgerConsistent(t.database.db)
  })
})
