import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Principal } from '../../src/auth/principal.js'
import type { Trx } from '../../src/db/database.js'
import { contractViolations, EVENT_TYPES } from '../../src/events/contracts.js'
import { toEnvelope } from '../../src/events/relay.js'
import { PointsService } from '../../src/points/points.service.js'
import { HistoryCursors } from '../../src/wallets/history-cursor.js'
import { createTestApp, type TestApp } from '../app.js'

let t: TestApp

beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

it('writes every points event to the outbox in the same transaction, each keeping its contract', async () => {
  let clock = Date.UTC(2032, 0, 1)
  const points = new PointsService({
    db: t.database.db,
    engine: t.container.ledger,
    cursors: new HistoryCursors(t.database.db),
    expiringSoonDays: 30,
    userExists: async () => true,
    now: () => new Date(clock),
  })
  const admin: Principal = { kind: 'user', id: randomUUID(), userId: randomUUID(), roles: ['admin'] }
  const run = <T>(work: (trx: Trx) => Promise<T>) =>
    t.container.walletChanges.transaction(t.database.db, work)
  const userId = randomUUID()
  const at = (ms: number) => new Date(clock + ms).toISOString()

  const earned = await run((trx) =>
    points.earn(trx, { userId, points: '10', source: 'shop', pendingUntil: at(1000), expiresAt: at(5000) }),
  )
  await run((trx) => points.earn(trx, { userId, points: '10', source: 'shop' }))
  clock += 2000
  const spent = await run((trx) => points.spend(trx, admin, { userId, points: '12', source: 'shop' }))
  await run((trx) => points.adjust(trx, admin, { userId, points: '3', reason: 'sorry', expiresAt: at(6000) }))
  await run((trx) => points.adjust(trx, admin, { userId, points: '-1', reason: 'oops' }))
  clock += 10_000
  await points.settleDueAccounts()
  // The spend drew 10 from the first lot, which has lapsed since: those come back as nothing.
  const reversal = await run((trx) => points.reverse(trx, spent.transactionId, { reason: 'cancelled' }))
  expect(reversal.lots.map((l) => l.outcome)).toEqual(['forfeited', 'returned'])
  const clawed = await run((trx) => points.reverse(trx, earned.transactionId, { reason: 'refund' }))
  expect(clawed).toMatchObject({ kind: 'clawed_back', points: '0', reversalTransactionId: null })

  const rows = await t.database.db
    .selectFrom('outbox')
    .select(['id', 'type', 'aggregate_type', 'aggregate_id', 'payload', 'created_at'])
    .where('type', 'like', 'points.%')
    .execute()
  const envelopes = rows.map((row) => toEnvelope(row))
  for (const envelope of envelopes) expect(contractViolations(envelope), envelope.type).toEqual([])
  expect([...new Set(envelopes.map((e) => e.type))].sort()).toEqual(
    EVENT_TYPES.filter((type) => type.startsWith('points.')).sort(),
  )
  const expiredEvent = envelopes.find((e) => e.type === 'points.expired')!
  expect(expiredEvent.data).toMatchObject({ userId, points: '2', total: '8', available: '8', pending: '0' })
})
