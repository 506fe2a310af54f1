import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey } from '../auth-fixtures.js'
import { expectLedgerConsistent } from '../ledger.js'
import { fund, openWallet, storedBalance } from '../wallets/fixtures.js'

let t: TestApp
let service: CreatedApiKey

beforeAll(async () => {
  t = await createTestApp()
  service = await createApiKey(t, ['service'])
})
afterAll(() => t.close())

/** Transfers that touched any of these wallets, counted once each. */
async function transfersOf(walletIds: string[]): Promise<number> {
  const row = await t.database.db
    .selectFrom('transactions')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('type', '=', 'transfer')
    .where(
      'id',
      'in',
      t.database.db.selectFrom('entries').select('transaction_id').where('account_id', 'in', walletIds),
    )
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

const WALLETS = 6
const transfer = fc
  .record({
    from: fc.integer({ min: 0, max: WALLETS - 1 }),
    to: fc.integer({ min: 0, max: WALLETS - 1 }),
    minor: fc.integer({ min: 1, max: 3000 }),
  })
  .filter((x) => x.from !== x.to)
const batch = fc.record({
  atomic: fc.boolean(),
  transfers: fc.array(transfer, { minLength: 1, maxLength: 30 }),
})

it('concurrent independent and atomic batches keep the ledger balanced, apply each key once, and replay to nothing', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(batch, { minLength: 2, maxLength: 8 }), async (batches) => {
      const wallets = await Promise.all(
        Array.from({ length: WALLETS }, () => openWallet(t, service.headers, 'EUR', randomUUID())),
      )
      for (const w of wallets) await fund(t, service.headers, w.id, '50.00')
      const bodies = batches.map((b) => ({
        atomic: b.atomic,
        items: b.transfers.map((x) => ({
          type: 'transfer',
          idempotencyKey: randomUUID(),
          fromWalletId: wallets[x.from]!.id,
          toWalletId: wallets[x.to]!.id,
          amount: `${Math.floor(x.minor / 100)}.${String(x.minor % 100).padStart(2, '0')}`,
        })),
      }))
      const send = () =>
        Promise.all(
          bodies.map((payload) =>
            t.app.inject({ method: 'POST', url: '/api/v1/batches', headers: service.headers, payload }),
          ),
        )
      const first = await send()
      let applied = 0
      first.forEach((response, i) => {
        if (bodies[i]!.atomic) {
          expect(response.statusCode, response.body).toBeOneOf([200, 422])
          if (response.statusCode === 200) applied += bodies[i]!.items.length
        } else {
          expect(response.statusCode, response.body).toBe(200)
          applied += response.json<{ succeeded: number }>().succeeded
        }
      })
      const balances = await Promise.all(wallets.map((w) => storedBalance(t, w.id)))
      expect(balances.reduce((a, b) => a + b, 0n)).toBe(BigInt(WALLETS) * 5000n)
      for (const balance of balances) expect(balance).toBeGreaterThanOrEqual(0n)
      const posted = await transfersOf(wallets.map((w) => w.id))
      expect(posted).toBe(applied)

      // The same batches again: applied ones replay, refused atomic ones may now pass or not,
      // but no key is applied twice.
      await send()
      const again = await transfersOf(wallets.map((w) => w.id))
      expect(again).toBeLessThanOrEqual(bodies.reduce((n, b) => n + b.items.length, 0))
      const balancesAfter = await Promise.all(wallets.map((w) => storedBalance(t, w.id)))
      expect(balancesAfter.reduce((a, b) => a + b, 0n)).toBe(BigInt(WALLETS) * 5000n)
    }),
    { numRuns: 8 },
  )
  await expectLedgerConsistent(t.database.db)
}, 240_000)
