import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Principal } from '../../src/auth/principal.js'
import type { Trx } from '../../src/db/database.js'
import type { AppError } from '../../src/errors.js'
import { PointsService } from '../../src/points/points.service.js'
import { HistoryCursors } from '../../src/wallets/history-cursor.js'
import { createTestApp, type TestApp } from '../app.js'
import { expectLedgerConsistent } from '../ledger.js'

const HOUR = 3_600_000
const SOON_DAYS = 30

let t: TestApp
let clock = Date.UTC(2031, 0, 1)
let points: PointsService
const admin: Principal = { kind: 'user', id: randomUUID(), userId: randomUUID(), roles: ['admin'] }

beforeAll(async () => {
  t = await createTestApp()
  // The service as the container builds it, but with a clock the test moves.
  points = new PointsService({
    db: t.database.db,
    engine: t.container.ledger,
    cursors: new HistoryCursors(t.database.db),
    expiringSoonDays: SOON_DAYS,
    userExists: async () => true,
    now: () => new Date(clock),
  })
})
afterAll(() => t.close())

type Op =
  | { kind: 'earn'; points: number; pendingHours: number | null; expiryHours: number | null }
  | { kind: 'spend'; points: number }
  | { kind: 'adjust'; points: number; expiryHours: number | null }
  | { kind: 'reverse'; pick: number }
  | { kind: 'advance'; hours: number }
  | { kind: 'sweep' }

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('earn' as const),
      points: fc.integer({ min: 1, max: 100 }),
      // Half of the lots pending, half expiring: enough of each, and of neither, to draw across.
      pendingHours: fc.option(fc.integer({ min: 0, max: 72 }), { freq: 2 }),
      expiryHours: fc.option(fc.integer({ min: 1, max: 240 }), { freq: 2 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('spend' as const), points: fc.integer({ min: 1, max: 80 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('adjust' as const),
      points: fc.integer({ min: -60, max: 60 }).filter((n) => n !== 0),
      expiryHours: fc.option(fc.integer({ min: 1, max: 240 }), { freq: 2 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reverse' as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), hours: fc.integer({ min: 0, max: 120 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'sweep' as const }) },
)

/** The reference: lots in creation order, as plain numbers. */
interface ModelLot {
  id: string
  remaining: number
  status: 'pending' | 'available' | 'expired' | 'reversed'
  availableAt: number
  expiresAt: number | null
}
type ModelTx =
  | { lot: ModelLot; reversed: boolean }
  | { draws: { lot: ModelLot; points: number }[]; reversed: boolean }

class Model {
  lots: ModelLot[] = []
  txs: { id: string; tx: ModelTx }[] = []

  settle(now: number) {
    for (const lot of this.lots) {
      if (lot.status === 'pending' && lot.availableAt <= now) lot.status = 'available'
      if (lot.status === 'available' && lot.expiresAt !== null && lot.expiresAt <= now && lot.remaining > 0) {
        lot.status = 'expired'
        lot.remaining = 0
      }
    }
  }

  figures() {
    const of = (status: ModelLot['status']) =>
      this.lots.filter((l) => l.status === status).reduce((sum, l) => sum + l.remaining, 0)
    const available = of('available')
    const pending = of('pending')
    return { total: `${available + pending}`, available: `${available}`, pending: `${pending}` }
  }

  expiringSoon(now: number) {
    const soon = this.lots.filter(
      (l) =>
        (l.status === 'pending' || l.status === 'available') &&
        l.remaining > 0 &&
        l.expiresAt !== null &&
        l.expiresAt <= now + SOON_DAYS * 24 * HOUR,
    )
    const next = soon.length === 0 ? null : Math.min(...soon.map((l) => l.expiresAt!))
    return {
      points: `${soon.reduce((sum, l) => sum + l.remaining, 0)}`,
      nextExpiryAt: next === null ? null : new Date(next).toISOString(),
      withinDays: SOON_DAYS,
    }
  }

  openLots() {
    return this.lots
      .filter((l) => (l.status === 'pending' || l.status === 'available') && l.remaining > 0)
      .sort((a, b) => {
        if (a.expiresAt !== b.expiresAt) {
          if (a.expiresAt === null) return 1
          if (b.expiresAt === null) return -1
          return a.expiresAt - b.expiresAt
        }
        return a.id < b.id ? -1 : 1
      })
      .map((l) => ({ id: l.id, remaining: `${l.remaining}`, status: l.status }))
  }

  /** The draws of a spend, or null when short: soonest expiry first, never-expiring last, oldest first. */
  draw(points: number): { lot: ModelLot; points: number }[] | null {
    const spendable = this.lots
      .filter((l) => l.status === 'available' && l.remaining > 0)
      .sort((a, b) => (a.expiresAt ?? Number.POSITIVE_INFINITY) - (b.expiresAt ?? Number.POSITIVE_INFINITY))
    if (spendable.reduce((sum, l) => sum + l.remaining, 0) < points) return null
    const draws: { lot: ModelLot; points: number }[] = []
    let left = points
    for (const lot of spendable) {
      if (left === 0) break
      const take = Math.min(lot.remaining, left)
      lot.remaining -= take
      left -= take
      draws.push({ lot, points: take })
    }
    return draws
  }
}

/** Runs a write as a route does: through the IdempotentWriter, a refusal being a recorded answer. */
async function write<T>(
  work: (trx: Trx) => Promise<T>,
): Promise<{ status: number; body: T & { code?: string } }> {
  const answer = await t.container.idempotency.run(
    { scope: `model:${admin.id}`, key: randomUUID(), fingerprint: 'model' },
    {
      work: async (trx) => ({ status: 201, body: await work(trx) }),
      renderRefusal: (error: AppError) => ({ code: error.code }),
    },
  )
  return { status: answer.status, body: JSON.parse(answer.body) }
}

it('keeps every figure and lot equal to a reference model over earn, spend, adjust, reverse and time', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40, size: 'max' }), async (ops) => {
      const userId = randomUUID()
      const model = new Model()
      clock += 1000 * HOUR
      for (const step of ops) {
        const now = clock
        model.settle(now)
        switch (step.kind) {
          case 'earn': {
            const availableAt = now + (step.pendingHours ?? 0) * HOUR
            const expiresAt = step.expiryHours === null ? null : availableAt + step.expiryHours * HOUR
            const answer = await write((trx) =>
              points.earn(trx, {
                userId,
                points: `${step.points}`,
                source: 'model',
                ...(step.pendingHours !== null ? { pendingUntil: new Date(availableAt).toISOString() } : {}),
                ...(expiresAt !== null ? { expiresAt: new Date(expiresAt).toISOString() } : {}),
              }),
            )
            expect(answer.status, JSON.stringify(answer.body)).toBe(201)
            const lot: ModelLot = {
              id: answer.body.lot.id,
              remaining: step.points,
              status: availableAt > now ? 'pending' : 'available',
              availableAt,
              expiresAt,
            }
            model.lots.push(lot)
            model.txs.push({ id: answer.body.transactionId, tx: { lot, reversed: false } })
            break
          }
          case 'spend':
          case 'adjust': {
            const take = step.kind === 'spend' ? step.points : -step.points
            if (step.kind === 'adjust' && step.points > 0) {
              const expiresAt = step.expiryHours === null ? null : now + step.expiryHours * HOUR
              const answer = await write((trx) =>
                points.adjust(trx, admin, {
                  userId,
                  points: `${step.points}`,
                  reason: 'model',
                  ...(expiresAt !== null ? { expiresAt: new Date(expiresAt).toISOString() } : {}),
                }),
              )
              expect(answer.status, JSON.stringify(answer.body)).toBe(201)
              const lot: ModelLot = {
                id: answer.body.lot!.id,
                remaining: step.points,
                status: 'available',
                availableAt: now,
                expiresAt,
              }
              model.lots.push(lot)
              model.txs.push({ id: answer.body.transactionId, tx: { lot, reversed: false } })
              break
            }
            const answer = await write((trx) =>
              step.kind === 'spend'
                ? points.spend(trx, admin, { userId, points: `${take}`, source: 'model' })
                : points.adjust(trx, admin, { userId, points: `${-take}`, reason: 'model' }),
            )
            const draws = model.draw(take)
            if (draws === null) {
              expect(answer.body.code).toBe('insufficient_points')
              break
            }
            expect(answer.status, JSON.stringify(answer.body)).toBe(201)
            expect(answer.body.draws).toEqual(
              draws.map((d) => ({
                lotId: d.lot.id,
                points: `${d.points}`,
                expiresAt: d.lot.expiresAt === null ? null : new Date(d.lot.expiresAt).toISOString(),
              })),
            )
            model.txs.push({ id: answer.body.transactionId, tx: { draws, reversed: false } })
            break
          }
          case 'reverse': {
            if (model.txs.length === 0) break
            const { id, tx } = model.txs[step.pick % model.txs.length]!
            const answer = await write((trx) => points.reverse(trx, id, { reason: 'model' }))
            if (tx.reversed) {
              expect(answer.body.code).toBe('points_already_reversed')
              break
            }
            expect(answer.status, JSON.stringify(answer.body)).toBe(201)
            tx.reversed = true
            if ('lot' in tx) {
              const open = tx.lot.status === 'pending' || tx.lot.status === 'available'
              expect(answer.body.points).toBe(`${open ? tx.lot.remaining : 0}`)
              if (open) {
                tx.lot.remaining = 0
                tx.lot.status = 'reversed'
              }
            } else {
              let returned = 0
              for (const d of tx.draws) {
                if (d.lot.status === 'available' && (d.lot.expiresAt === null || d.lot.expiresAt > now)) {
                  d.lot.remaining += d.points
                  returned += d.points
                }
              }
              expect(answer.body.points).toBe(`${returned}`)
            }
            break
          }
          case 'advance':
            clock += step.hours * HOUR
            break
          case 'sweep':
            await points.settleDueAccounts(3)
            break
        }
        model.settle(clock)
        const account = await points.account(admin, userId)
        expect({ total: account.total, available: account.available, pending: account.pending }).toEqual(
          model.figures(),
        )
        expect(account.expiringSoon).toEqual(model.expiringSoon(clock))
        const lots = await points.lots(admin, { userId, limit: 500 })
        expect(lots.map((l) => ({ id: l.id, remaining: l.remaining, status: l.status }))).toEqual(
          model.openLots(),
        )
      }
    }),
    { numRuns: 30 },
  )
  await expectLedgerConsistent(t.database.db)
})
