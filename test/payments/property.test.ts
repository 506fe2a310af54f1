import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { releaseOverdueHolds } from '../../src/ledger/hold-expiry.js'
import { defaultCurrencyRegistry, parseAmount } from '../../src/money/index.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent, idempotencyKey } from '../ledger.js'

const currencies = defaultCurrencyRegistry()
const minor = (amount: string, currency: string) =>
  parseAmount(amount, currencies.require(currency), { allowNegative: true, allowZero: true })

let t: TestApp
let service: CreatedApiKey
let owners: SignedUpUser[]
// Each run gets wallets of its own by using a currency no earlier run used (one wallet per user
// and currency), so the users, and their costly password hashes, are made once.
const twoDecimalCurrencies = currencies
  .list()
  .filter((c) => c.decimals === 2 && c.kind === 'iso4217')
  .map((c) => c.code)
let runs = 0

beforeAll(async () => {
  // Owners withdraw from their own wallets here, on both database shapes (SELF_DEPOSITS covers both ways).
  t = await createTestApp({ env: { SELF_DEPOSITS: 'true' } })
  service = await createApiKey(t, ['service'])
  owners = await Promise.all(Array.from({ length: 6 }, () => signUp(t)))
})
afterAll(() => t.close())

type Op =
  | { kind: 'purchase'; wallet: number; cents: number }
  | { kind: 'withdraw'; wallet: number; cents: number }
  | { kind: 'transfer'; from: number; to: number; cents: number }
  | { kind: 'hold'; wallet: number; cents: number; expiresSoon: boolean }
  | { kind: 'capture'; hold: number; part: number }
  | { kind: 'void'; hold: number }
  | { kind: 'reverse'; transaction: number; part: number }

const wallet = fc.nat(5)
const cents = fc.integer({ min: 1, max: 4_000 })
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('purchase' as const), wallet, cents }),
  fc.record({ kind: fc.constant('withdraw' as const), wallet, cents }),
  fc.record({ kind: fc.constant('transfer' as const), from: wallet, to: wallet, cents }),
  fc.record({ kind: fc.constant('hold' as const), wallet, cents, expiresSoon: fc.boolean() }),
  fc.record({
    kind: fc.constant('capture' as const),
    hold: fc.nat(30),
    part: fc.integer({ min: 1, max: 100 }),
  }),
  fc.record({ kind: fc.constant('void' as const), hold: fc.nat(30) }),
  fc.record({
    kind: fc.constant('reverse' as const),
    transaction: fc.nat(30),
    part: fc.integer({ min: 1, max: 100 }),
  }),
)

interface Posted {
  id: string
  amount: string
  entries: { walletId?: string; amount: string }[]
}

const format = (value: number) => `${Math.floor(value / 100)}.${String(value % 100).padStart(2, '0')}`

describe('payments under concurrency (property)', () => {
  it('after every burst the ledger balances, available = balance - pending, and balances equal the sum of what the API reported', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(op, { minLength: 5, maxLength: 20 }), { minLength: 1, maxLength: 3 }),
        async (bursts) => {
          const currency = twoDecimalCurrencies[runs++ % twoDecimalCurrencies.length]!
          const walletIds: string[] = []
          const expected = new Map<string, bigint>()
          for (const owner of owners) {
            const created = await t.app.inject({
              method: 'POST',
              url: '/api/v1/wallets',
              headers: owner.headers,
              payload: { currency },
            })
            const id = created.json().id as string
            await t.app.inject({
              method: 'POST',
              url: `/api/v1/wallets/${id}/deposits`,
              headers: { ...service.headers, 'idempotency-key': idempotencyKey('fund') },
              payload: { amount: '100.00' },
            })
            walletIds.push(id)
            expected.set(id, 10_000n)
          }
          const holds: { id: string; cents: number }[] = []
          const reversible: Posted[] = []

          const account = (posted: Posted) => {
            for (const entry of posted.entries) {
              if (entry.walletId)
                expected.set(entry.walletId, expected.get(entry.walletId)! + minor(entry.amount, currency))
            }
          }
          const send = (url: string, payload: Record<string, unknown>, asService = false, ownerIndex = 0) =>
            t.app.inject({
              method: 'POST',
              url,
              headers: {
                ...(asService ? service.headers : owners[ownerIndex]!.headers),
                'idempotency-key': idempotencyKey('p'),
              },
              payload,
            })

          for (const burst of bursts) {
            const responses = await Promise.all(
              burst.map(async (o) => {
                switch (o.kind) {
                  case 'purchase':
                    return {
                      o,
                      r: await send(
                        '/api/v1/purchases',
                        { walletId: walletIds[o.wallet], merchant: 'prop', amount: format(o.cents) },
                        false,
                        o.wallet,
                      ),
                    }
                  case 'withdraw':
                    return {
                      o,
                      r: await send(
                        `/api/v1/wallets/${walletIds[o.wallet]}/withdrawals`,
                        { amount: format(o.cents) },
                        false,
                        o.wallet,
                      ),
                    }
                  case 'transfer':
                    return {
                      o,
                      r: await send(
                        '/api/v1/transfers',
                        {
                          fromWalletId: walletIds[o.from],
                          toWalletId: walletIds[o.to],
                          amount: format(o.cents),
                        },
                        false,
                        o.from,
                      ),
                    }
                  case 'hold': {
                    const expiresAt = o.expiresSoon ? new Date(Date.now() + 150).toISOString() : undefined
                    return {
                      o,
                      r: await send(
                        '/api/v1/holds',
                        {
                          walletId: walletIds[o.wallet],
                          amount: format(o.cents),
                          merchant: 'prop',
                          ...(expiresAt ? { expiresAt } : {}),
                        },
                        false,
                        o.wallet,
                      ),
                    }
                  }
                  case 'capture': {
                    const hold = holds[o.hold % Math.max(holds.length, 1)]
                    if (!hold) return { o, r: null }
                    const amount = format(Math.max(1, Math.floor((hold.cents * o.part) / 100)))
                    return { o, r: await send(`/api/v1/holds/${hold.id}/capture`, { amount }, true) }
                  }
                  case 'void': {
                    const hold = holds[o.hold % Math.max(holds.length, 1)]
                    if (!hold) return { o, r: null }
                    return { o, r: await send(`/api/v1/holds/${hold.id}/void`, {}, true) }
                  }
                  case 'reverse': {
                    const original = reversible[o.transaction % Math.max(reversible.length, 1)]
                    if (!original) return { o, r: null }
                    const cap = minor(original.amount, currency)
                    const part = (cap * BigInt(o.part)) / 100n
                    const amount = part > 0n ? format(Number(part)) : original.amount
                    return {
                      o,
                      r: await send(
                        `/api/v1/transactions/${original.id}/reversal`,
                        { amount, reason: 'prop' },
                        true,
                      ),
                    }
                  }
                }
              }),
            )
            for (const { o, r } of responses) {
              if (!r) continue
              expect(r.statusCode, r.body).toBeLessThan(500)
              if (r.statusCode !== 201) {
                expect([404, 409, 422]).toContain(r.statusCode)
                continue
              }
              const body = r.json()
              if (o.kind === 'hold') holds.push({ id: body.id, cents: Number(minor(body.amount, currency)) })
              else if (o.kind === 'capture' || o.kind === 'void') account(body.transaction)
              else {
                account(body)
                if (o.kind !== 'reverse') reversible.push(body)
              }
            }
            await new Promise((resolve) => setTimeout(resolve, 200))
            await releaseOverdueHolds(t.database.db, t.container.ledger)
            await expectLedgerConsistent(t.database.db)
            for (const [index, id] of walletIds.entries()) {
              const view = (
                await t.app.inject({
                  method: 'GET',
                  url: `/api/v1/wallets/${id}`,
                  headers: owners[index]!.headers,
                })
              ).json()
              const balance = minor(view.balance, currency)
              expect(minor(view.available, currency)).toBe(balance - minor(view.pending, currency))
              expect(balance).toBe(expected.get(id))
            }
          }
        },
      ),
      { numRuns: 20 },
    )
  })
})
