import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Principal } from '../../src/auth/principal.js'
import { type Container, createContainer } from '../../src/container.js'
import type { Trx } from '../../src/db/database.js'
import type { AppError } from '../../src/errors.js'
import type { RenderRefusal } from '../../src/ledger/group-commit.js'
import { callerScope, type KeyClaim } from '../../src/ledger/idempotency-keys.js'
import { createLogger } from '../../src/logger.js'
import { testConfig } from '../app.js'
import { createTestDatabase, type TestDatabase } from '../database.js'
import { expectLedgerConsistent, idempotencyKey } from '../ledger.js'
import { testShape } from '../shape.js'

// The write path without HTTP: a container on a fresh database, no Fastify app, no request. This is
// how a broker consumer, a bulk request or the bench posts.

let container: Container
const service: Principal = { kind: 'api_key', id: randomUUID(), userId: null, roles: ['service'] }
const scope = callerScope(service)

beforeAll(async () => {
  const config = testConfig()
  container = await createContainer(config, createLogger(config), { database: await createTestDatabase() })
})
afterAll(() => container.close())

/** Not problem+json: the ledger stores whatever its caller renders a refusal as. */
const renderRefusal: RenderRefusal = (error: AppError) => ({ refused: error.code, ...error.extensions })

async function openWallet(): Promise<string> {
  const { wallet } = await container.wallets.createWallet(service, { currency: 'EUR', userId: randomUUID() })
  return wallet.id
}

function depositOf(walletId: string, amount: string, claim: KeyClaim) {
  return container.idempotency.postMovement(claim, {
    build: () => container.wallets.worldMovement(service, walletId, 'deposit', { amount }),
    render: (posted) => container.wallets.fullTransactionView(posted),
    renderRefusal,
  })
}

function withdrawalOf(walletId: string, amount: string, claim: KeyClaim) {
  return container.idempotency.postMovement(claim, {
    build: () => container.wallets.worldMovement(service, walletId, 'withdrawal', { amount }),
    render: (posted) => container.wallets.fullTransactionView(posted),
    renderRefusal,
  })
}

async function balanceOf(walletId: string): Promise<bigint> {
  const row = await container.database.db
    .selectFrom('accounts')
    .select('balance')
    .where('id', '=', walletId)
    .executeTakeFirstOrThrow()
  return row.balance
}

describe('posting through the ledger entry point, with no request', () => {
  it('posts a movement once and replays its stored answer byte for byte', async () => {
    const walletId = await openWallet()
    const claim = { scope, key: idempotencyKey('no-request'), fingerprint: `deposit ${walletId} 5.00` }
    const first = await depositOf(walletId, '5.00', claim)
    expect(first.status).toBe(201)
    expect(first.replayed).toBe(false)
    expect(JSON.parse(first.body)).toMatchObject({ type: 'deposit', amount: '5.00', currency: 'EUR' })

    const replay = await depositOf(walletId, '5.00', claim)
    expect(replay).toEqual({ status: 201, body: first.body, replayed: true })
    expect(await balanceOf(walletId)).toBe(500n)
    await expectLedgerConsistent(container.database.db)
  })

  it('records a refusal in the caller’s rendering, replays it, and posts nothing', async () => {
    const walletId = await openWallet()
    await depositOf(walletId, '1.00', { scope, key: idempotencyKey('fund'), fingerprint: 'fund' })
    const claim = { scope, key: idempotencyKey('refused'), fingerprint: `withdrawal ${walletId} 9.00` }

    const refused = await withdrawalOf(walletId, '9.00', claim)
    expect(refused.status).toBe(422)
    expect(refused.replayed).toBe(false)
    expect(JSON.parse(refused.body)).toEqual({
      refused: 'insufficient_funds',
      walletId,
      currency: 'EUR',
      available: '1.00',
      requested: '9.00',
    })

    expect(await withdrawalOf(walletId, '9.00', claim)).toEqual({
      status: 422,
      body: refused.body,
      replayed: true,
    })
    expect(await balanceOf(walletId)).toBe(100n)
    await expectLedgerConsistent(container.database.db)
  })

  it('refuses a key reused for another request without recording anything', async () => {
    const walletId = await openWallet()
    const key = idempotencyKey('reused')
    const first = await depositOf(walletId, '2.00', { scope, key, fingerprint: 'first' })
    await expect(depositOf(walletId, '3.00', { scope, key, fingerprint: 'second' })).rejects.toMatchObject({
      code: 'idempotency_key_reused',
      status: 422,
    })
    // Another caller's scope is another key.
    const other = callerScope({ kind: 'api_key', id: randomUUID() })
    expect((await depositOf(walletId, '3.00', { scope: other, key, fingerprint: 'second' })).status).toBe(201)
    expect(await depositOf(walletId, '2.00', { scope, key, fingerprint: 'first' })).toEqual({
      ...first,
      replayed: true,
    })
    expect(await balanceOf(walletId)).toBe(500n)
  })

  it('runs transactional work under a key, and records a refusal thrown inside it', async () => {
    const walletId = await openWallet()
    const claim = { scope, key: idempotencyKey('run'), fingerprint: `run ${walletId}` }
    // Built before the transaction: on PGlite's one connection, a read outside it would wait forever.
    const posting = await container.wallets.worldMovement(service, walletId, 'withdrawal', { amount: '1.00' })
    const work = {
      work: async (trx: Trx) => ({
        status: 201,
        body: { id: (await container.ledger.postOne(trx, posting)).id },
      }),
      renderRefusal,
    }
    const refused = await container.idempotency.run(claim, work)
    expect(refused.status).toBe(422)
    expect(JSON.parse(refused.body)).toMatchObject({ refused: 'insufficient_funds', walletId })
    expect(await container.idempotency.run(claim, work)).toEqual({ ...refused, replayed: true })
    expect(await balanceOf(walletId)).toBe(0n)
    await expectLedgerConsistent(container.database.db)
  })
})

describe.runIf(testShape() === 'services')('batches as the load changes', () => {
  it('starts a batch beside one stuck on a lock once the waiting movements have waited too long', async () => {
    const stuck = await openWallet()
    const free = await openWallet()
    const url = (container.database as TestDatabase).url!
    const holder = new pg.Client({ connectionString: url })
    await holder.connect()
    try {
      await holder.query('begin')
      await holder.query('select id from accounts where id = $1 for update', [stuck])
      let stuckDone = false
      const stuckDeposit = depositOf(stuck, '1.00', {
        scope,
        key: idempotencyKey('stuck'),
        fingerprint: 'stuck',
      }).then((answer) => {
        stuckDone = true
        return answer
      })
      // The first batch is now waiting for the row lock; this deposit arrives behind it.
      await new Promise((resolve) => setTimeout(resolve, 20))
      const beside = await Promise.race([
        depositOf(free, '2.00', { scope, key: idempotencyKey('beside'), fingerprint: 'beside' }),
        new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), 3000)),
      ])
      expect(beside).toMatchObject({ status: 201 })
      expect(stuckDone).toBe(false)
      await holder.query('commit')
      expect(await stuckDeposit).toMatchObject({ status: 201 })
    } finally {
      await holder.end()
    }
    expect(await balanceOf(stuck)).toBe(100n)
    expect(await balanceOf(free)).toBe(200n)
  })
})
