import { sql } from 'kysely'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { systemAccountId } from '../../src/ledger/system-accounts.js'
import { foldSystemBalances } from '../../src/ledger/system-balances.js'
import type { TransactionView } from '../../src/wallets/wallets.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent } from '../ledger.js'
import { testShape } from '../shape.js'
import {
  deposit,
  fund,
  openWallet,
  openWallets,
  type Problem,
  storedBalance,
  transfer,
  withdraw,
} from './fixtures.js'

let t: TestApp
let alice: SignedUpUser
let bob: SignedUpUser
let service: CreatedApiKey

beforeAll(async () => {
  // Owners withdraw from their own wallets here, on both database shapes (SELF_DEPOSITS covers both ways).
  t = await createTestApp({ env: { SELF_DEPOSITS: 'true' } })
  ;[alice, bob] = await Promise.all([signUp(t), signUp(t)])
  service = await createApiKey(t, ['service'])
})
afterAll(() => t.close())
// `coffer verify` after every concurrency test: whatever the responses said, the books must balance.
afterEach(() => expectLedgerConsistent(t.database.db))

describe('concurrent movements', () => {
  it('lets exactly 10 of 100 concurrent 1.00 withdrawals through from a wallet holding 10.00', async () => {
    const wallet = await openWallet(t, alice.headers, 'EUR')
    await fund(t, service.headers, wallet.id, '10.00')

    const responses = await Promise.all(
      Array.from({ length: 100 }, () => withdraw(t, alice.headers, wallet.id, '1.00')),
    )
    const accepted = responses.filter((r) => r.statusCode === 201)
    const refused = responses.filter((r) => r.statusCode === 422)
    expect(accepted).toHaveLength(10)
    expect(refused).toHaveLength(90)
    for (const response of refused) {
      expect(response.json<Problem>()).toMatchObject({ code: 'insufficient_funds', requested: '1.00' })
    }
    // Each accepted withdrawal saw the one before it: the balances after are 9.00 down to 0.00, once each.
    const balancesAfter = accepted.map((r) => r.json<TransactionView>().entries[0]!.balanceAfter).sort()
    expect(balancesAfter).toEqual([
      '0.00',
      '1.00',
      '2.00',
      '3.00',
      '4.00',
      '5.00',
      '6.00',
      '7.00',
      '8.00',
      '9.00',
    ])
    expect(await storedBalance(t, wallet.id)).toBe(0n)
  })

  it('runs 200 transfers each way between two wallets at once with no deadlock reaching a client', async () => {
    const [a, b] = await Promise.all([openWallet(t, alice.headers, 'GBP'), openWallet(t, bob.headers, 'GBP')])
    await Promise.all([fund(t, service.headers, a.id, '100.00'), fund(t, service.headers, b.id, '100.00')])

    // Interleaved, so both directions are in flight together from the first request on.
    const requests = Array.from({ length: 400 }, (_, i) =>
      i % 2 === 0
        ? transfer(t, alice.headers, { fromWalletId: a.id, toWalletId: b.id, amount: '1.00' })
        : transfer(t, bob.headers, { fromWalletId: b.id, toWalletId: a.id, amount: '1.00' }),
    )
    const responses = await Promise.all(requests)
    const statuses = new Map<number, number>()
    for (const response of responses)
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
    expect(
      [...statuses.keys()].every((status) => status === 201 || status === 422),
      JSON.stringify([...statuses]),
    ).toBe(true)
    for (const response of responses.filter((r) => r.statusCode === 422)) {
      expect(response.json<Problem>().code).toBe('insufficient_funds')
    }
    const moved = (i: number) => responses[i]!.statusCode === 201
    const aToB = responses.filter((_, i) => i % 2 === 0 && moved(i)).length
    const bToA = responses.filter((_, i) => i % 2 === 1 && moved(i)).length
    expect(aToB + bToA).toBeGreaterThan(0)

    const [balanceA, balanceB] = await Promise.all([storedBalance(t, a.id), storedBalance(t, b.id)])
    expect(balanceA + balanceB).toBe(20_000n)
    expect(balanceA).toBe(10_000n - BigInt(aToB) * 100n + BigInt(bToA) * 100n)
    expect(balanceB).toBe(10_000n - BigInt(bToA) * 100n + BigInt(aToB) * 100n)
  })
})

describe('system accounts are not a bottleneck', () => {
  const world = systemAccountId({ name: 'world', currency: 'USD' })
  const worldRow = async () => {
    const { rows } = await sql<{ xmin: string; balance: string; updated_at: Date }>`
      select xmin::text, balance::text, updated_at from accounts where id = ${world}
    `.execute(t.database.db)
    return rows[0]
  }

  it('posts 100 concurrent deposits into 100 wallets without updating the world account row', async () => {
    const wallets = await openWallets(t, service.headers, 'USD', 100)
    // The first deposit in USD creates world:USD; fold so the row holds everything so far.
    await fund(t, service.headers, wallets[0]!.id, '1.00')
    await foldSystemBalances(t.database.db)
    const before = await worldRow()
    expect(before).toMatchObject({ balance: '-100' })

    const responses = await Promise.all(wallets.map((w) => deposit(t, service.headers, w.id, '2.50')))
    expect(responses.map((r) => r.statusCode)).toEqual(wallets.map(() => 201))
    // Not one posting wrote the row (same row version, same balance and time): each queued a delta.
    expect(await worldRow()).toEqual(before)
    const queued = await t.database.db
      .selectFrom('system_balance_deltas')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('account_id', '=', world)
      .executeTakeFirstOrThrow()
    expect(Number(queued.n)).toBe(100)

    expect(await foldSystemBalances(t.database.db)).toBe(100)
    expect((await worldRow())!.balance).toBe(String(-100 - 100 * 250))

    // On PostgreSQL, movements waiting at the same moment were posted together: fewer database
    // transactions (distinct xmin) than movements, each still its own ledger transaction. (On
    // PGlite every query queues for the one connection, so requests seldom wait side by side.)
    if (testShape() !== 'services') return
    const ids = responses.map((r) => r.json<{ id: string }>().id)
    const { rows } = await sql<{ movements: string; commits: string }>`
      select count(*)::text as movements, count(distinct xmin::text)::text as commits
      from transactions where id = any(${ids}::uuid[])
    `.execute(t.database.db)
    expect(Number(rows[0]!.movements)).toBe(100)
    expect(Number(rows[0]!.commits)).toBeLessThan(100)
  })

  it('completes 100 concurrent deposits into 100 wallets while another connection holds the world row', async () => {
    // PGlite has one connection, so no other session can hold a row lock while the app works;
    // the test above shows the same property there by the row never being written.
    if (testShape() !== 'services') return
    const wallets = await openWallets(t, service.headers, 'USD', 100)
    await fund(t, service.headers, wallets[0]!.id, '1.00')

    const holder = new pg.Client({ connectionString: t.database.url! })
    await holder.connect()
    try {
      await holder.query('begin')
      // The strongest row lock there is: a posting that updated, locked or even key-share
      // referenced the world row (as a foreign key would) would wait here.
      await holder.query('select id from accounts where id = $1 for update', [world])

      let timer: NodeJS.Timeout | undefined
      const stillHeld = new Promise<'timed out'>((resolve) => {
        timer = setTimeout(() => resolve('timed out'), 20_000)
      })
      const deposits = Promise.all(wallets.map((w) => deposit(t, service.headers, w.id, '1.00')))
      const outcome = await Promise.race([deposits, stillHeld])
      clearTimeout(timer)
      expect(outcome, 'the deposits waited for the world row').not.toBe('timed out')
      const responses = await deposits
      expect(responses.map((r) => r.statusCode)).toEqual(wallets.map(() => 201))
      // The lock was held throughout: its transaction is still open.
      const { rows } = await holder.query<{ open: boolean }>(
        "select count(*) = 1 as open from pg_locks where locktype = 'transactionid' and pid = pg_backend_pid()",
      )
      expect(rows[0]!.open).toBe(true)
    } finally {
      await holder.query('rollback').catch(() => undefined)
      await holder.end()
    }
  })
})

// Batches of more than one form where requests wait side by side for connections, which is
// PostgreSQL (npm run test:services); on PGlite every batch is a single movement and this path is
// never taken, so the test is not registered there.
const describeOnPostgres = testShape() === 'services' ? describe : () => undefined
describeOnPostgres('group commit', () => {
  it('runs each movement of a batch that failed as a whole again on its own', async () => {
    const ledger = t.container.ledger
    const postRecording = ledger.postRecording.bind(ledger)
    let failedBatches = 0
    // Group commit posts a batch, and records its answers, through postRecording.
    const spy = vi.spyOn(ledger, 'postRecording').mockImplementation(async (trx, requests, answersOf) => {
      if (requests.length > 1 && failedBatches === 0) {
        failedBatches += 1
        throw new Error('simulated failure of a whole batch')
      }
      return postRecording(trx, requests, answersOf)
    })
    try {
      const wallets = await openWallets(t, service.headers, 'GBP', 60)
      const responses = await Promise.all(wallets.map((w) => deposit(t, service.headers, w.id, '3.00')))
      expect(failedBatches).toBe(1)
      expect(responses.map((r) => r.statusCode)).toEqual(wallets.map(() => 201))
      for (const wallet of wallets) expect(await storedBalance(t, wallet.id)).toBe(300n)
    } finally {
      spy.mockRestore()
    }
  })
})
