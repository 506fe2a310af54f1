import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatAmount } from '../../src/money/index.js'
import type { TransactionView, WalletView } from '../../src/wallets/wallets.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey } from '../auth-fixtures.js'
import { expectLedgerConsistent } from '../ledger.js'
import { deposit, openWallet, type Problem, storedBalance, transfer, withdraw } from './fixtures.js'

let t: TestApp
let service: CreatedApiKey

beforeAll(async () => {
  t = await createTestApp()
  service = await createApiKey(t, ['service'])
})
afterAll(() => t.close())

// JPY has no decimals, so amounts of every scale go through the same model.
const CURRENCIES = ['USD', 'EUR', 'JPY'] as const

type Op =
  | { kind: 'deposit'; wallet: number; minor: number }
  | { kind: 'withdrawal'; wallet: number; minor: number }
  | { kind: 'transfer'; from: number; to: number; minor: number; crossCurrency: boolean }

interface Scenario {
  walletCount: number
  currencyCount: number
  /** A first burst deposits this much into each wallet, so later bursts contend over real money. */
  opening: number[]
  bursts: Op[][]
}

/** Wallet i holds CURRENCIES[i % currencyCount]; a transfer picks a target of its own currency unless told to cross. */
function scenarioArbitrary(): fc.Arbitrary<Scenario> {
  return fc
    .record({ walletCount: fc.integer({ min: 5, max: 20 }), currencyCount: fc.integer({ min: 2, max: 3 }) })
    .chain(({ walletCount, currencyCount }) => {
      const wallet = fc.integer({ min: 0, max: walletCount - 1 })
      const sameCurrencyTargets = (from: number) =>
        Array.from({ length: walletCount }, (_, i) => i).filter(
          (i) => i !== from && i % currencyCount === from % currencyCount,
        )
      const op: fc.Arbitrary<Op> = fc.oneof(
        {
          weight: 3,
          arbitrary: fc.record({
            kind: fc.constant('deposit' as const),
            wallet,
            minor: fc.integer({ min: 1, max: 10_000 }),
          }),
        },
        {
          weight: 2,
          arbitrary: fc.record({
            kind: fc.constant('withdrawal' as const),
            wallet,
            minor: fc.integer({ min: 1, max: 5_000 }),
          }),
        },
        {
          weight: 4,
          arbitrary: fc
            .record({
              from: wallet,
              pick: fc.nat(),
              cross: fc.integer({ min: 0, max: 4 }),
              minor: fc.integer({ min: 1, max: 5_000 }),
            })
            .map(({ from, pick, cross, minor }): Op => {
              const same = sameCurrencyTargets(from)
              // One transfer in five (or any with no other wallet of its currency) deliberately crosses currencies.
              if (cross === 0 || same.length === 0) {
                const others = Array.from({ length: walletCount }, (_, i) => i).filter(
                  (i) => i % currencyCount !== from % currencyCount,
                )
                return {
                  kind: 'transfer',
                  from,
                  to: others[pick % others.length]!,
                  minor,
                  crossCurrency: true,
                }
              }
              return { kind: 'transfer', from, to: same[pick % same.length]!, minor, crossCurrency: false }
            }),
        },
      )
      return fc.record({
        walletCount: fc.constant(walletCount),
        currencyCount: fc.constant(currencyCount),
        opening: fc.array(fc.integer({ min: 1, max: 20_000 }), {
          minLength: walletCount,
          maxLength: walletCount,
        }),
        bursts: fc.array(fc.array(op, { minLength: 5, maxLength: 30, size: 'max' }), {
          minLength: 1,
          maxLength: 2,
        }),
      })
    })
}

/** Fires one operation through the HTTP API as a service would. */
function send(op: Op, wallets: WalletView[]): Promise<LightMyRequestResponse> {
  const amountOf = (wallet: WalletView) =>
    formatAmount(BigInt(op.minor), t.container.currencyRegistry.require(wallet.currency))
  switch (op.kind) {
    case 'deposit':
      return deposit(t, service.headers, wallets[op.wallet]!.id, amountOf(wallets[op.wallet]!))
    case 'withdrawal':
      return withdraw(t, service.headers, wallets[op.wallet]!.id, amountOf(wallets[op.wallet]!))
    case 'transfer':
      return transfer(t, service.headers, {
        fromWalletId: wallets[op.from]!.id,
        toWalletId: wallets[op.to]!.id,
        amount: amountOf(wallets[op.from]!),
      })
  }
}

/** The committed transactions touching these wallets, in an order equivalent to their commit order. */
async function commitOrder(walletIds: string[]): Promise<string[]> {
  // seq is allocated while the wallet rows are locked, so two transactions sharing a wallet get
  // their seqs in commit order; ones sharing none commute, so any order between them is valid.
  const { rows } = await sql<{ transaction_id: string }>`
    select transaction_id from entries
    where transaction_id in (select transaction_id from entries where account_id = any(${walletIds}::uuid[]))
    group by transaction_id
    order by min(seq)
  `.execute(t.database.db)
  return rows.map((r) => r.transaction_id)
}

async function checkScenario(scenario: Scenario): Promise<void> {
  const wallets = await Promise.all(
    Array.from({ length: scenario.walletCount }, (_, i) =>
      openWallet(t, service.headers, CURRENCIES[i % scenario.currencyCount]!, randomUUID()),
    ),
  )
  const acceptedById = new Map<string, { op: Op; posted: TransactionView }>()
  const opening = scenario.opening.map((minor, wallet): Op => ({ kind: 'deposit', wallet, minor }))
  for (const burst of [opening, ...scenario.bursts]) {
    const responses = await Promise.all(burst.map((op) => send(op, wallets)))
    burst.forEach((op, i) => {
      const response = responses[i]!
      if (op.kind === 'transfer' && op.crossCurrency) {
        expect(response.statusCode, response.body).toBe(422)
        expect(response.json<Problem>().code).toBe('currency_mismatch')
        return
      }
      if (response.statusCode === 201) {
        const posted = response.json<TransactionView>()
        acceptedById.set(posted.id, { op, posted })
        return
      }
      // A deposit always fits; anything else may only be refused for want of money.
      expect(op.kind, response.body).not.toBe('deposit')
      expect(response.statusCode, response.body).toBe(422)
      const problem = response.json<Problem>()
      expect(problem.code).toBe('insufficient_funds')
      expect(Number(problem.available)).toBeLessThan(Number(problem.requested))
    })
  }

  const order = await commitOrder(wallets.map((w) => w.id))
  expect(new Set(order)).toEqual(new Set(acceptedById.keys()))

  // The sequential model: replay the accepted operations one at a time in commit order.
  const model = wallets.map(() => 0n)
  const format = (index: number) =>
    formatAmount(model[index]!, t.container.currencyRegistry.require(wallets[index]!.currency))
  for (const id of order) {
    const { op, posted } = acceptedById.get(id)!
    const amount = BigInt(op.minor)
    const changes: [number, bigint][] =
      op.kind === 'deposit'
        ? [[op.wallet, amount]]
        : op.kind === 'withdrawal'
          ? [[op.wallet, -amount]]
          : [
              [op.from, -amount],
              [op.to, amount],
            ]
    for (const [index, change] of changes) {
      model[index] = model[index]! + change
      expect(model[index]!, `wallet ${index} went below zero at ${id}`).toBeGreaterThanOrEqual(0n)
      // What the API answered at the time matches the model at that point of the replay.
      const entry = posted.entries.find((e) => e.walletId === wallets[index]!.id)
      expect(entry?.balanceAfter).toBe(format(index))
    }
  }
  const stored = await Promise.all(wallets.map((w) => storedBalance(t, w.id)))
  expect(stored).toEqual(model)
  await expectLedgerConsistent(t.database.db)
}

describe('random concurrent bursts of movements', () => {
  it('keep every invariant and end where a sequential replay of the accepted ones in commit order ends', async () => {
    await fc.assert(fc.asyncProperty(scenarioArbitrary(), checkScenario), { numRuns: 50 })
  }, 180_000)
})
