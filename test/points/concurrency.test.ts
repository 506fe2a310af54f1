import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Principal } from '../../src/auth/principal.js'
import { PointsService } from '../../src/points/points.service.js'
import { HistoryCursors } from '../../src/wallets/history-cursor.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent } from '../ledger.js'
import { earn, pointsOf, postPoints } from './fixtures.js'

let t: TestApp
let service: CreatedApiKey

beforeAll(async () => {
  t = await createTestApp()
  service = await createApiKey(t, ['service'])
})
afterAll(() => t.close())

it('never lets concurrent spends take more than the available points', async () => {
  const user = await signUp(t)
  await earn(t, service.headers, { userId: user.userId, points: '7' })
  await earn(t, service.headers, {
    userId: user.userId,
    points: '5',
    expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
  })
  const answers = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      postPoints(t, i % 2 ? user.headers : service.headers, '/spend', {
        ...(i % 2 ? {} : { userId: user.userId }),
        points: '2',
        source: 'race',
      }),
    ),
  )
  const ok = answers.filter((a) => a.statusCode === 201)
  expect(ok).toHaveLength(6)
  for (const refused of answers.filter((a) => a.statusCode !== 201)) {
    expect(refused.json()).toMatchObject({ code: 'insufficient_points' })
  }
  expect(await pointsOf(t, user.headers)).toMatchObject({ total: '0', available: '0', pending: '0' })
  await expectLedgerConsistent(t.database.db)
})

it('never spends points the expiry job is taking, however the two interleave', async () => {
  let clock = Date.now()
  const points = new PointsService({
    db: t.database.db,
    engine: t.container.ledger,
    cursors: new HistoryCursors(t.database.db),
    expiringSoonDays: 30,
    userExists: async () => true,
    now: () => new Date(clock),
  })
  const operator: Principal = { kind: 'api_key', id: randomUUID(), userId: null, roles: ['service'] }
  const run = <T>(work: Parameters<typeof t.container.walletChanges.transaction<T>>[1]) =>
    t.container.walletChanges.transaction(t.database.db, work)

  const users = Array.from({ length: 8 }, () => randomUUID())
  for (const userId of users) {
    await run((trx) =>
      points.earn(trx, {
        userId,
        points: '20',
        source: 'race',
        expiresAt: new Date(clock + 60_000).toISOString(),
      }),
    )
    await run((trx) => points.earn(trx, { userId, points: '20', source: 'race' }))
  }
  clock += 120_000
  const spends = users.flatMap((userId) =>
    Array.from({ length: 5 }, () =>
      run((trx) => points.spend(trx, operator, { userId, points: '5', source: 'race' })).then(
        () => 5,
        (error: { code?: string }) => {
          expect(error.code).toBe('insufficient_points')
          return 0
        },
      ),
    ),
  )
  const [swept, ...spent] = await Promise.all([points.settleDueAccounts(2), ...spends])
  expect(swept.expired).toBeLessThanOrEqual(users.length)
  for (const [i, userId] of users.entries()) {
    const taken = spent.slice(i * 5, i * 5 + 5).reduce((a, b) => a + b, 0)
    // Only the 20 points that never expire could be spent: four spends of five, never a fifth.
    expect(taken).toBe(20)
    expect(await points.account(operator, userId)).toMatchObject({ total: '0', available: '0' })
  }
  await expectLedgerConsistent(t.database.db)
})

it('sweeps every due account in bounded batches, however many due lots each has', async () => {
  let clock = Date.now()
  const points = new PointsService({
    db: t.database.db,
    engine: t.container.ledger,
    cursors: new HistoryCursors(t.database.db),
    expiringSoonDays: 30,
    userExists: async () => true,
    now: () => new Date(clock),
  })
  const users = Array.from({ length: 5 }, () => randomUUID())
  await t.container.walletChanges.transaction(t.database.db, async (trx) => {
    for (const userId of users) {
      for (let lot = 0; lot < 3; lot++) {
        await points.earn(trx, {
          userId,
          points: '4',
          source: 'sweep',
          pendingUntil: new Date(clock + 1000).toISOString(),
          expiresAt: new Date(clock + 60_000).toISOString(),
        })
      }
    }
  })
  clock += 2000
  // Two due lots per batch: each batch reaches a single account.
  expect(await points.settleDueAccounts(2)).toEqual({ accounts: 5, matured: 15, expired: 0 })
  clock += 120_000
  expect(await points.settleDueAccounts(2)).toEqual({ accounts: 5, matured: 0, expired: 15 })
  const operator: Principal = { kind: 'api_key', id: randomUUID(), userId: null, roles: ['service'] }
  for (const userId of users) expect((await points.account(operator, userId)).total).toBe('0')
  await expectLedgerConsistent(t.database.db)
})
