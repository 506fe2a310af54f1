import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigSchema } from '../../src/config.js'
import { systemAccountId } from '../../src/ledger/system-accounts.js'
import { LEDGER_CHECKS, type Violation, verifyLedger } from '../../src/ledger/verify.js'
import type { WalletView } from '../../src/wallets/wallets.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { testShape } from '../shape.js'
import { fund, openWallet, transfer, withdraw } from './fixtures.js'

const CLI_ENTRY = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
// An absolute loader, so the CLI can run from a scratch directory where no .env of the repo applies.
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

let t: TestApp
let alice: SignedUpUser
let bob: SignedUpUser
let service: CreatedApiKey
let wallet: WalletView

beforeAll(async () => {
  // Owners withdraw from their own wallets here, on both database shapes (SELF_DEPOSITS covers both ways).
  t = await createTestApp({ env: { SELF_DEPOSITS: 'true' } })
  ;[alice, bob] = await Promise.all([signUp(t), signUp(t)])
  service = await createApiKey(t, ['service'])
  wallet = await openWallet(t, alice.headers, 'USD')
  const other = await openWallet(t, bob.headers, 'USD')
  const euros = await openWallet(t, bob.headers, 'EUR')
  await fund(t, service.headers, wallet.id, '50.00')
  await fund(t, service.headers, euros.id, '5.00')
  expect((await withdraw(t, alice.headers, wallet.id, '7.50')).statusCode).toBe(201)
  expect(
    (await transfer(t, alice.headers, { fromWalletId: wallet.id, toWalletId: other.id, amount: '2.25' }))
      .statusCode,
  ).toBe(201)
  // A refused movement leaves only its idempotency record behind.
  expect((await withdraw(t, bob.headers, euros.id, '99.00')).statusCode).toBe(422)
})
afterAll(() => t.close())

const checksOf = (violations: Violation[]) => [...new Set(violations.map((v) => v.check))].sort()

/** Changes a wallet's stored balance behind the engine's back (accounts is not append-only), then restores it. */
async function withTamperedBalance<T>(walletId: string, work: () => Promise<T>): Promise<T> {
  await sql`update accounts set balance = balance + 1 where id = ${walletId}`.execute(t.database.db)
  try {
    return await work()
  } finally {
    await sql`update accounts set balance = balance - 1 where id = ${walletId}`.execute(t.database.db)
  }
}

/** Runs every check inside a transaction that is then rolled back, for damage that cannot be undone. */
async function violationsAfter(damage: string[]): Promise<Violation[]> {
  const rolledBack = new Error('roll back the planted damage')
  const violations: Violation[] = []
  await t.database.db
    .transaction()
    .execute(async (trx) => {
      for (const statement of damage) await sql.raw(statement).execute(trx)
      for (const check of LEDGER_CHECKS) {
        for (const row of await check.query(trx)) violations.push({ check: check.name, detail: row.detail })
      }
      throw rolledBack
    })
    .catch((error: unknown) => {
      if (error !== rolledBack) throw error
    })
  return violations.sort((a, b) => a.check.localeCompare(b.check))
}

describe('verifyLedger', () => {
  it('finds nothing wrong with a ledger only the engine wrote', async () => {
    expect(await verifyLedger(t.database.db)).toEqual([])
  })

  it("names the broken invariants when a wallet's balance no longer matches its entries", async () => {
    const violations = await withTamperedBalance(wallet.id, () => verifyLedger(t.database.db))
    expect(checksOf(violations)).toEqual([
      'account-balance-equals-entries',
      'currency-sums-to-zero',
      'wallet-balance-equals-last-balance-after',
    ])
    for (const violation of violations.filter((v) => v.check !== 'currency-sums-to-zero')) {
      expect(violation.detail).toContain(wallet.id)
    }
    expect(violations.find((v) => v.check === 'currency-sums-to-zero')!.detail).toMatch(/^USD: /)
    expect(await verifyLedger(t.database.db)).toEqual([])
  })

  it('sees a system account drift, counting its unfolded deltas', async () => {
    const world = systemAccountId({ name: 'world', currency: 'USD' })
    const violations = await violationsAfter([
      `insert into system_balance_deltas (account_id, amount) values ('${world}', 1)`,
    ])
    expect(checksOf(violations)).toEqual(['account-balance-equals-entries', 'currency-sums-to-zero'])
    expect(violations[0]!.detail).toContain(world)
  })

  it('sees an unbalanced transaction, a broken balance_after chain and an overdrawn wallet', async () => {
    const id = randomUUID()
    const violations = await violationsAfter([
      `insert into transactions (id, type, currency, amount, created_at) values ('${id}', 'deposit', 'USD', 1, now())`,
      `insert into entries (transaction_id, account_id, currency, amount, balance_after, created_at)
         values ('${id}', '${wallet.id}', 'USD', 1, 999, now())`,
      `update accounts set balance = 999 where id = '${wallet.id}'`,
      `update accounts set balance = -5 where id = (select id from accounts where kind = 'wallet' and currency = 'EUR' limit 1)`,
    ])
    expect(checksOf(violations)).toEqual(
      expect.arrayContaining([
        'account-balance-equals-entries',
        'available-above-floor',
        'balance-after-chain',
        'currency-sums-to-zero',
        'transactions-balance',
        'transactions-have-entries',
      ]),
    )
    expect(violations.find((v) => v.check === 'transactions-balance')!.detail).toContain(id)
    expect(await verifyLedger(t.database.db)).toEqual([])
  })
})

describe('coffer verify', () => {
  async function runVerify(): Promise<{ code: number; stdout: string }> {
    const env: NodeJS.ProcessEnv = { ...process.env }
    // Only this test's database: no Coffer setting of the shell may point the CLI elsewhere.
    for (const name of Object.keys(ConfigSchema.properties)) delete env[name]
    Object.assign(env, { DATABASE_URL: t.database.url!, LOG_LEVEL: 'warn' })
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--import', TSX_LOADER, CLI_ENTRY, 'verify'],
        {
          cwd: tmpdir(),
          env,
        },
      )
      return { code: 0, stdout }
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string }
      if (typeof failed.code !== 'number') throw error
      return { code: failed.code, stdout: `${failed.stdout ?? ''}${failed.stderr ?? ''}` }
    }
  }

  it('exits 0 on a healthy database and 1 naming each violation', async () => {
    // The CLI opens the database itself, which takes a PostgreSQL URL: an embedded PGlite data
    // directory belongs to this process alone. The embedded shape checks verifyLedger above.
    if (testShape() !== 'services') return
    const healthy = await runVerify()
    expect(healthy, healthy.stdout).toMatchObject({ code: 0 })
    expect(healthy.stdout).toContain(`verify: ok (${LEDGER_CHECKS.length} checks passed)`)

    const broken = await withTamperedBalance(wallet.id, runVerify)
    expect(broken.code, broken.stdout).toBe(1)
    expect(broken.stdout).toMatch(
      new RegExp(`verify: FAIL account-balance-equals-entries: account ${wallet.id}`),
    )
    expect(broken.stdout).toContain(
      `verify: FAIL wallet-balance-equals-last-balance-after: wallet ${wallet.id}`,
    )
    expect(broken.stdout).toContain('verify: 3 violation(s)')
  }, 60_000)
})
