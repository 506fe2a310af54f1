import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createTestApp, type TestApp } from './app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from './auth-fixtures.js'
import { expectLedgerConsistent, idempotencyKey } from './ledger.js'
import { testShape } from './shape.js'
import { deposit, eventually, fund, openWallet, openWallets, storedBalance } from './wallets/fixtures.js'

interface Problem {
  code: string
  status: number
  retryAfter?: number
}

function expectDatabaseUnavailable(response: {
  statusCode: number
  headers: Record<string, unknown>
  json<T>(): T
}): void {
  expect(response.statusCode).toBe(503)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(response.headers['retry-after']).toBe('2')
  expect(response.json<Problem>()).toMatchObject({ code: 'database_unavailable', status: 503, retryAfter: 2 })
}

describe('a database that is gone', () => {
  let t: TestApp
  let user: SignedUpUser
  let service: CreatedApiKey
  let walletId: string

  beforeAll(async () => {
    t = await createTestApp()
    user = await signUp(t)
    service = await createApiKey(t, ['service'])
    walletId = (await openWallet(t, user.headers, 'USD')).id
    await t.database.close()
  })
  afterAll(() => t.close())

  it('answers 503 database_unavailable with Retry-After on a route that reads', async () => {
    expectDatabaseUnavailable(
      await t.app.inject({ method: 'GET', url: '/api/v1/wallets', headers: user.headers }),
    )
  })

  it('answers 503 from the access hook, where an API key is looked up', async () => {
    expectDatabaseUnavailable(
      await t.app.inject({ method: 'GET', url: `/api/v1/wallets/${walletId}`, headers: service.headers }),
    )
  })

  it('answers 503 to a movement posted through group commit', async () => {
    expectDatabaseUnavailable(await deposit(t, service.headers, walletId, '1.00'))
  })
})

// Ending the app's sessions while another one is left holding a lock needs PostgreSQL: registered
// in the services shape only (PGlite has one connection and no server to end it).
const describeOnPostgres = testShape() === 'services' ? describe : () => undefined
describeOnPostgres('a connection lost in the middle of a posting', () => {
  let t: TestApp
  let service: CreatedApiKey

  beforeAll(async () => {
    t = await createTestApp()
    service = await createApiKey(t, ['service'])
  })
  afterAll(() => t.close())

  it('fails a whole batch that lost the database at once: 503 to each, none posted one by one', async () => {
    const wallets = await openWallets(t, service.headers, 'EUR', 60)
    const ledger = t.container.ledger
    const postRecording = ledger.postRecording.bind(ledger)
    let failedBatches = 0
    // Group commit posts a batch, and records its answers, through postRecording.
    const spy = vi.spyOn(ledger, 'postRecording').mockImplementation(async (trx, requests, answersOf) => {
      if (requests.length > 1 && failedBatches === 0) {
        failedBatches += 1
        // What node-postgres throws when the server ends the session mid-transaction.
        throw Object.assign(new Error('terminating connection due to administrator command'), {
          code: '57P01',
        })
      }
      return postRecording(trx, requests, answersOf)
    })
    // The fallback of a failed batch posts movement by movement through postOne.
    const oneByOne = vi.spyOn(ledger, 'postOne')
    const keys = wallets.map(() => idempotencyKey('batch-outage'))
    let responses: Awaited<ReturnType<typeof deposit>>[]
    let postedOneByOne: number
    try {
      responses = await Promise.all(wallets.map((w, i) => deposit(t, service.headers, w.id, '3.00', keys[i])))
    } finally {
      postedOneByOne = oneByOne.mock.calls.length
      spy.mockRestore()
      oneByOne.mockRestore()
    }
    expect(failedBatches).toBe(1)
    expect(postedOneByOne).toBe(0)
    const unavailable = responses.filter((r) => r.statusCode === 503)
    expect(unavailable.length).toBeGreaterThan(1)
    for (const response of unavailable) expectDatabaseUnavailable(response)
    expect(responses.filter((r) => r.statusCode !== 503).map((r) => r.statusCode)).toEqual(
      responses.filter((r) => r.statusCode !== 503).map(() => 201),
    )

    // Each key was left free: the retry posts it, once.
    const retried = await Promise.all(
      wallets.map((w, i) => deposit(t, service.headers, w.id, '3.00', keys[i])),
    )
    for (const [i, response] of retried.entries()) {
      expect(response.statusCode, response.body).toBe(201)
      expect(response.headers['idempotency-replayed']).toBe(
        responses[i]!.statusCode === 201 ? 'true' : undefined,
      )
    }
    for (const wallet of wallets) expect(await storedBalance(t, wallet.id)).toBe(300n)
    await expectLedgerConsistent(t.database.db)
  })

  it('answers 503, leaves the key free, and the retry with that key posts once', async () => {
    const user = await signUp(t)
    const wallet = await openWallet(t, user.headers, 'USD')
    await fund(t, service.headers, wallet.id, '1.00')

    const holder = new pg.Client({ connectionString: t.database.url! })
    await holder.connect()
    const key = idempotencyKey('outage')
    try {
      await holder.query('begin')
      await holder.query('select id from accounts where id = $1 for update', [wallet.id])
      const waiting = deposit(t, service.headers, wallet.id, '2.00', key)
      // The posting is inside its transaction, waiting for the wallet lock: end its session there.
      const waitingOnLock = async () => {
        const { rows } = await holder.query<{ pid: number }>(
          `select pid from pg_stat_activity
           where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'`,
        )
        return rows.length > 0
      }
      await eventually(waitingOnLock, 'the posting to wait for the wallet lock')
      await holder.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid()`,
      )
      expectDatabaseUnavailable(await waiting)
    } finally {
      await holder.query('rollback').catch(() => undefined)
      await holder.end()
    }

    // The pool replaced the dead connections by itself, and the key was not left in flight (409).
    const retried = await deposit(t, service.headers, wallet.id, '2.00', key)
    expect(retried.statusCode, retried.body).toBe(201)
    const replayed = await deposit(t, service.headers, wallet.id, '2.00', key)
    expect(replayed.statusCode).toBe(201)
    expect(replayed.headers['idempotency-replayed']).toBe('true')
    expect(replayed.json<{ id: string }>().id).toBe(retried.json<{ id: string }>().id)
    const { balance } = await t.database.db
      .selectFrom('accounts')
      .select('balance')
      .where('id', '=', wallet.id)
      .executeTakeFirstOrThrow()
    expect(balance).toBe(300n)
    await expectLedgerConsistent(t.database.db)
  })
})
