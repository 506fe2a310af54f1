import { randomUUID } from 'node:crypto'
import { parse } from 'csv-parse/sync'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TransactionView } from '../../src/wallets/wallets.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey } from '../auth-fixtures.js'
import { deposit, openWallet, pause, transfer, withdraw } from '../wallets/fixtures.js'
import { getStatement, minorOf, walletStatement } from './fixtures.js'

let t: TestApp
let service: CreatedApiKey

beforeAll(async () => {
  t = await createTestApp()
  service = await createApiKey(t, ['service'])
})
afterAll(() => t.close())

type Op =
  | { kind: 'deposit'; wallet: number; minor: number; pauseMs: number }
  | { kind: 'withdrawal'; wallet: number; minor: number; pauseMs: number }
  | { kind: 'transfer'; from: number; to: number; minor: number; pauseMs: number }

const WALLETS = 3
const wallet = fc.integer({ min: 0, max: WALLETS - 1 })
const minor = fc.integer({ min: 1, max: 50_000 })
const pauseMs = fc.constantFrom(0, 0, 2, 5)
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('deposit' as const), wallet, minor, pauseMs }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('withdrawal' as const), wallet, minor, pauseMs }) },
  {
    weight: 3,
    arbitrary: fc
      .record({ kind: fc.constant('transfer' as const), from: wallet, to: wallet, minor, pauseMs })
      .filter((o) => o.from !== o.to),
  },
)

/** What the ledger says happened to one wallet: its entry of each committed transaction. */
interface ModelLine {
  at: number
  type: string
  transactionId: string
  amount: bigint
  balanceAfter: bigint
}

const format = (m: bigint) => {
  const sign = m < 0n ? '-' : ''
  const abs = (m < 0n ? -m : m).toString().padStart(3, '0')
  return `${sign}${abs.slice(0, -2)}.${abs.slice(-2)}`
}

describe('statements on random histories', () => {
  it('agree with the ledger: opening + lines = closing, totals by type, boundaries, CSV', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 18 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(-1, 0, 1), fc.constantFrom(-1, 0, 1)), {
          minLength: 1,
          maxLength: 4,
        }),
        async (ops, cuts) => {
          const wallets = await Promise.all(
            Array.from({ length: WALLETS }, () => openWallet(t, service.headers, 'USD', randomUUID())),
          )
          const model = new Map<string, ModelLine[]>(wallets.map((w) => [w.id, []]))
          for (const o of ops) {
            const amount = format(BigInt(o.minor))
            const response =
              o.kind === 'deposit'
                ? await deposit(t, service.headers, wallets[o.wallet]!.id, amount)
                : o.kind === 'withdrawal'
                  ? await withdraw(t, service.headers, wallets[o.wallet]!.id, amount)
                  : await transfer(t, service.headers, {
                      fromWalletId: wallets[o.from]!.id,
                      toWalletId: wallets[o.to]!.id,
                      amount,
                    })
            if (response.statusCode === 201) {
              const tx = response.json<TransactionView>()
              for (const entry of tx.entries) {
                if (!('walletId' in entry) || !entry.walletId) continue
                model.get(entry.walletId)!.push({
                  at: Date.parse(tx.createdAt),
                  type: tx.type,
                  transactionId: tx.id,
                  amount: minorOf(entry.amount, 2),
                  balanceAfter: minorOf(entry.balanceAfter!, 2),
                })
              }
            } else {
              expect(response.statusCode, response.body).toBe(422)
            }
            if (o.pauseMs) await pause(o.pauseMs)
          }
          const instants = [...model.values()].flat().map((l) => l.at)
          if (instants.length === 0) return
          const first = Math.min(...instants)
          const last = Math.max(...instants)
          for (const [a, b, da, db] of cuts) {
            // Cuts land on, just before or just after committed instants, or outside the history.
            const pick = (n: number, d: number) =>
              (instants[n % instants.length] ?? first) + d * (n % 5 === 0 ? 1000 : 1)
            let from = pick(a, da)
            let to = pick(b, db)
            if (from > to) [from, to] = [to, from]
            if (from === to) to = from + 1
            if (a % 7 === 0) from = first - 60_000
            if (b % 7 === 0) to = last + 60_000
            for (const w of wallets) {
              const lines = model.get(w.id)!
              const inside = lines.filter((l) => l.at >= from && l.at < to)
              const before = lines.filter((l) => l.at < from)
              const upTo = lines.filter((l) => l.at < to)
              const opening = before.at(-1)?.balanceAfter ?? 0n
              const closing = upTo.at(-1)?.balanceAfter ?? 0n
              const query = { from: new Date(from).toISOString(), to: new Date(to).toISOString() }
              const statement = await walletStatement(t, service.headers, w.id, query)
              expect(statement.openingBalance).toBe(format(opening))
              expect(statement.closingBalance).toBe(format(closing))
              expect(statement.lines.map((l) => l.transactionId)).toEqual(inside.map((l) => l.transactionId))
              expect(statement.lines.map((l) => l.balanceAfter)).toEqual(
                inside.map((l) => format(l.balanceAfter)),
              )
              const sum = statement.lines.reduce((acc, l) => acc + minorOf(l.amount, 2), 0n)
              expect(opening + sum).toBe(closing)
              const types = [...new Set(inside.map((l) => l.type))].sort()
              expect(statement.totals.byType).toEqual(
                types.map((type) => {
                  const ofType = inside.filter((l) => l.type === type)
                  const moneyIn = ofType.filter((l) => l.amount > 0n).reduce((acc, l) => acc + l.amount, 0n)
                  const moneyOut = ofType.filter((l) => l.amount < 0n).reduce((acc, l) => acc - l.amount, 0n)
                  return { type, moneyIn: format(moneyIn), moneyOut: format(moneyOut), count: ofType.length }
                }),
              )
              expect(statement.totals.count).toBe(inside.length)
              // The balance API agrees at both ends (it includes `at`, so one millisecond before).
              const balanceAt = async (at: number) => {
                const r = await t.app.inject({
                  method: 'GET',
                  url: `/api/v1/wallets/${w.id}/balance?at=${new Date(at - 1).toISOString()}`,
                  headers: service.headers,
                })
                return r.json<{ balance: string }>().balance
              }
              expect(await balanceAt(from)).toBe(statement.openingBalance)
              expect(await balanceAt(to)).toBe(statement.closingBalance)

              const csv = await getStatement(t, service.headers, `/wallets/${w.id}/statement`, {
                ...query,
                format: 'csv',
              })
              const rows = parse(csv.body, { columns: true }) as Record<string, string>[]
              expect(rows.map((r) => r.transaction_id)).toEqual(inside.map((l) => l.transactionId))
              const csvSum = rows.reduce((acc, r) => acc + minorOf(r.amount!, 2), 0n)
              expect(opening + csvSum).toBe(closing)
            }
          }
        },
      ),
      { numRuns: 12 },
    )
  }, 180_000)
})
