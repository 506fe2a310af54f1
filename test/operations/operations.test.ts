import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Subscription } from '../../src/events/bus.js'
import type { OperationView } from '../../src/operations/operations.schemas.js'
import { startCommandConsumer } from '../../src/worker/commands.js'
import { createTestApp, type TestApp } from '../app.js'
import { type AuthHeaders, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent, idempotencyKey } from '../ledger.js'
import { eventually, fund, openWallet, type Problem, storedBalance } from '../wallets/fixtures.js'

/**
 * The asynchronous operations API (issue 11, deliver 5): POST /api/v1/operations answers 202 after
 * cheap checks and is applied through the command path of the container's bus (in-process, or
 * RabbitMQ in the services shape); GET /api/v1/operations/{id} shows how it ended.
 */

function postOperation(
  t: TestApp,
  headers: AuthHeaders,
  payload: Record<string, unknown>,
  key: string = idempotencyKey('op'),
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/operations',
    headers: { ...headers, 'idempotency-key': key },
    payload,
  })
}

async function getOperation(t: TestApp, headers: AuthHeaders, id: string) {
  return t.app.inject({ method: 'GET', url: `/api/v1/operations/${id}`, headers })
}

async function finished(t: TestApp, headers: AuthHeaders, id: string): Promise<OperationView> {
  let view: OperationView | undefined
  await eventually(async () => {
    const response = await getOperation(t, headers, id)
    expect(response.statusCode, response.body).toBe(200)
    view = response.json<OperationView>()
    return view.status !== 'accepted'
  }, `operation ${id} to finish`)
  return view!
}

async function operationCount(t: TestApp): Promise<number> {
  const { count } = await t.database.db
    .selectFrom('operations')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .executeTakeFirstOrThrow()
  return Number(count)
}

describe('asynchronous operations', () => {
  let t: TestApp
  let consumer: Subscription
  let user: SignedUpUser
  let other: SignedUpUser
  let admin: SignedUpUser
  let walletId: string
  let otherWalletId: string

  beforeAll(async () => {
    t = await createTestApp({ env: { SELF_DEPOSITS: 'true' } })
    consumer = await startCommandConsumer(t.container)
    ;[user, other, admin] = await Promise.all([signUp(t), signUp(t), signUp(t, { roles: ['admin'] })])
    walletId = (await openWallet(t, user.headers, 'USD')).id
    otherWalletId = (await openWallet(t, other.headers, 'USD')).id
  })
  afterAll(async () => {
    await consumer.close()
    await t.close()
  })

  it('answers 202 with a Location, and the operation succeeds with its transaction', async () => {
    const response = await postOperation(t, user.headers, {
      type: 'deposit',
      walletId,
      amount: '25.00',
      reference: 'async-1',
    })
    expect(response.statusCode, response.body).toBe(202)
    const accepted = response.json<{ id: string; status: string }>()
    expect(accepted.status).toBe('accepted')
    expect(response.headers.location).toBe(`/api/v1/operations/${accepted.id}`)
    const view = await finished(t, user.headers, accepted.id)
    expect(view).toMatchObject({ id: accepted.id, type: 'deposit', status: 'succeeded', problem: null })
    expect(view.transaction).toMatchObject({ type: 'deposit', amount: '25.00', reference: 'async-1' })
    const own = view.transaction!.entries.find((entry) => entry.walletId === walletId)
    expect(own?.balanceAfter).toBe('25.00')
    expect(await storedBalance(t, walletId)).toBe(2500n)
  })

  it('replays the same 202 and operation for the same Idempotency-Key, moving money once', async () => {
    const key = idempotencyKey('replay')
    const before = await storedBalance(t, walletId)
    const payload = { type: 'deposit', walletId, amount: '1.00' }
    const first = await postOperation(t, user.headers, payload, key)
    expect(first.statusCode, first.body).toBe(202)
    await finished(t, user.headers, first.json<{ id: string }>().id)
    const again = await postOperation(t, user.headers, payload, key)
    expect(again.statusCode).toBe(202)
    expect(again.body).toBe(first.body)
    expect(again.headers['idempotency-replayed']).toBe('true')
    expect(again.headers.location).toBe(first.headers.location)
    const other = await postOperation(t, user.headers, { ...payload, amount: '2.00' }, key)
    expect(other.statusCode).toBe(422)
    expect(other.json<Problem>().code).toBe('idempotency_key_reused')
    expect(await storedBalance(t, walletId)).toBe(before + 100n)
  })

  it('transfers and withdraws through operations', async () => {
    const before = await Promise.all([storedBalance(t, walletId), storedBalance(t, otherWalletId)])
    const sent = await postOperation(t, user.headers, {
      type: 'transfer',
      fromWalletId: walletId,
      toWalletId: otherWalletId,
      amount: '4.00',
    })
    expect(sent.statusCode, sent.body).toBe(202)
    const withdrawn = await postOperation(t, user.headers, { type: 'withdrawal', walletId, amount: '1.00' })
    expect(withdrawn.statusCode, withdrawn.body).toBe(202)
    const transferView = await finished(t, user.headers, sent.json<{ id: string }>().id)
    expect(transferView.status).toBe('succeeded')
    // The other party of the transfer is a counterparty without its balance.
    const theirs = transferView.transaction!.entries.find((entry) => entry.walletId === otherWalletId)
    expect(theirs?.balanceAfter).toBeNull()
    expect((await finished(t, user.headers, withdrawn.json<{ id: string }>().id)).status).toBe('succeeded')
    expect(await storedBalance(t, walletId)).toBe(before[0] - 500n)
    expect(await storedBalance(t, otherWalletId)).toBe(before[1] + 400n)
    await expectLedgerConsistent(t.database.db)
  })

  it('shows a failed operation with its problem and emits operation.failed', async () => {
    const frozenOwner = await signUp(t)
    const frozen = (await openWallet(t, frozenOwner.headers, 'USD')).id
    await fund(t, frozenOwner.headers, frozen, '3.00')
    const freeze = await t.app.inject({
      method: 'POST',
      url: `/api/v1/wallets/${frozen}/freeze`,
      headers: admin.headers,
    })
    expect(freeze.statusCode, freeze.body).toBe(200)
    const response = await postOperation(t, frozenOwner.headers, {
      type: 'withdrawal',
      walletId: frozen,
      amount: '1.00',
    })
    expect(response.statusCode, response.body).toBe(202)
    const id = response.json<{ id: string }>().id
    const view = await finished(t, frozenOwner.headers, id)
    expect(view).toMatchObject({
      status: 'failed',
      transaction: null,
      problem: { code: 'wallet_frozen', status: 409 },
    })
    const events = await t.database.db
      .selectFrom('outbox')
      .selectAll()
      .where('type', '=', 'operation.failed')
      .execute()
    expect(events.filter((event) => event.aggregate_id === id)).toHaveLength(1)
    expect(await storedBalance(t, frozen)).toBe(300n)
  })

  it('answers an obviously insufficient balance with 422 at once, recording nothing', async () => {
    const before = await operationCount(t)
    const response = await postOperation(t, user.headers, {
      type: 'withdrawal',
      walletId,
      amount: '100000.00',
    })
    expect(response.statusCode, response.body).toBe(422)
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(response.json<Problem>()).toMatchObject({ code: 'insufficient_funds', requested: '100000.00' })
    const transfer = await postOperation(t, user.headers, {
      type: 'transfer',
      fromWalletId: walletId,
      toWalletId: otherWalletId,
      amount: '100000.00',
    })
    expect(transfer.json<Problem>().code).toBe('insufficient_funds')
    expect(await operationCount(t)).toBe(before)
  })

  it('refuses bad input with problem+json and records nothing', async () => {
    const before = await operationCount(t)
    const cases: [Record<string, unknown>, number, string][] = [
      [{ type: 'refund', walletId, amount: '1.00' }, 400, 'invalid_request'],
      [{ type: 'deposit', walletId, amount: 1 }, 400, 'invalid_request'],
      [{ type: 'deposit', walletId, amount: '1.00', extra: 1 }, 400, 'invalid_request'],
      [{ type: 'deposit', walletId, amount: '1.001' }, 422, 'invalid_amount'],
      [
        { type: 'deposit', walletId, amount: '1.00', metadata: { big: 'x'.repeat(20_000) } },
        422,
        'limit_exceeded',
      ],
      [{ type: 'deposit', walletId, amount: '1.00', reference: 'a\u0000b' }, 422, 'forbidden_character'],
      [{ type: 'transfer', walletId, amount: '1.00' }, 400, 'invalid_request'],
      [{ type: 'deposit', walletId: otherWalletId, amount: '1.00' }, 404, 'wallet_not_found'],
      [{ type: 'deposit', walletId: randomUUID(), amount: '1.00' }, 404, 'wallet_not_found'],
      [
        { type: 'transfer', fromWalletId: walletId, toWalletId: walletId, amount: '1.00' },
        422,
        'same_wallet',
      ],
    ]
    for (const [payload, status, code] of cases) {
      const response = await postOperation(t, user.headers, payload)
      expect(response.statusCode, `${JSON.stringify(payload)}: ${response.body}`).toBe(status)
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(response.json<Problem>().code, JSON.stringify(payload)).toBe(code)
      if (payload.type === 'refund')
        expect(response.json<Problem>().detail).toBe('body/type must be one of deposit, withdrawal, transfer')
    }
    const keyless = await t.app.inject({
      method: 'POST',
      url: '/api/v1/operations',
      headers: user.headers,
      payload: { type: 'deposit', walletId, amount: '1.00' },
    })
    expect(keyless.statusCode).toBe(400)
    expect(await operationCount(t)).toBe(before)
  })

  it("shows a user only their own operations: another's is 404, an admin sees it", async () => {
    const response = await postOperation(t, user.headers, { type: 'deposit', walletId, amount: '1.00' })
    const id = response.json<{ id: string }>().id
    await finished(t, user.headers, id)
    const stranger = await getOperation(t, other.headers, id)
    expect(stranger.statusCode).toBe(404)
    expect(stranger.json<Problem>().code).toBe('operation_not_found')
    expect((await getOperation(t, other.headers, randomUUID())).statusCode).toBe(404)
    expect((await getOperation(t, user.headers, 'not-a-uuid')).statusCode).toBe(400)
    const asAdmin = await getOperation(t, admin.headers, id)
    expect(asAdmin.statusCode).toBe(200)
    expect(asAdmin.json<OperationView>().status).toBe('succeeded')
  })
})

describe('asynchronous operations with self-deposits off', () => {
  it("refuses a user's deposit at once as the synchronous route does", async () => {
    const t = await createTestApp({ env: { SELF_DEPOSITS: 'false' } })
    try {
      const user = await signUp(t)
      const walletId = (await openWallet(t, user.headers, 'USD')).id
      const response = await postOperation(t, user.headers, { type: 'deposit', walletId, amount: '1.00' })
      expect(response.statusCode, response.body).toBe(403)
      expect(response.json<Problem>().code).toBe('self_deposit_disabled')
      expect(await operationCount(t)).toBe(0)
    } finally {
      await t.close()
    }
  })
})

describe('an operation whose command cannot be sent', () => {
  it('answers 503 command_dispatch_failed, keeping the operation recorded as accepted', async () => {
    const t = await createTestApp({ env: { SELF_DEPOSITS: 'true' } })
    try {
      const user = await signUp(t)
      const walletId = (await openWallet(t, user.headers, 'USD')).id
      await t.container.bus.close()
      const response = await postOperation(t, user.headers, { type: 'deposit', walletId, amount: '1.00' })
      expect(response.statusCode, response.body).toBe(503)
      expect(response.json<Problem>().code).toBe('command_dispatch_failed')
      const rows = await t.database.db.selectFrom('operations').select(['status']).execute()
      expect(rows).toEqual([{ status: 'accepted' }])
    } finally {
      await t.close()
    }
  })
})

describe('operations still accepted after a while', () => {
  it('are sent again by the worker job, and still move money once', async () => {
    const t = await createTestApp({ env: { SELF_DEPOSITS: 'true' } })
    let consumer: Subscription | undefined
    try {
      const user = await signUp(t)
      const walletId = (await openWallet(t, user.headers, 'USD')).id
      // No consumer yet: the command waits, as one lost or dead-lettered would leave it accepted.
      const response = await postOperation(t, user.headers, { type: 'deposit', walletId, amount: '2.00' })
      expect(response.statusCode, response.body).toBe(202)
      const id = response.json<{ id: string }>().id
      expect(await t.container.operations.redispatchStale()).toBe(0)
      const later = new Date(Date.now() + 61_000)
      expect(await t.container.operations.redispatchStale(later)).toBe(1)
      // Touched by the resend: not again until it is stale again.
      expect(await t.container.operations.redispatchStale(later)).toBe(0)
      // A command naming the operation with other fields applies what was accepted, not those.
      const forged = await t.container.commandHandler({
        type: 'deposit.requested',
        body: Buffer.from(JSON.stringify({ operationId: id, walletId, amount: '999.00' })),
        sender: 'coffer',
        replyTo: null,
        correlationId: null,
        attempt: 0,
        headers: {},
      })
      expect(forged).toEqual({ kind: 'done' })
      consumer = await startCommandConsumer(t.container)
      const view = await finished(t, user.headers, id)
      expect(view.status).toBe('succeeded')
      expect(view.transaction?.amount).toBe('2.00')
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(await storedBalance(t, walletId)).toBe(200n)
      expect(await t.container.operations.redispatchStale(new Date(Date.now() + 120_000))).toBe(0)
    } finally {
      await consumer?.close()
      await t.close()
    }
  })
})
