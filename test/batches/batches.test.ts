import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WalletView } from '../../src/wallets/wallets.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent, idempotencyKey } from '../ledger.js'
import { fund, openWallet, type Problem, postMoney, walletBalance } from '../wallets/fixtures.js'

let t: TestApp
let service: CreatedApiKey
let ada: SignedUpUser
let bob: SignedUpUser

beforeAll(async () => {
  t = await createTestApp({ env: { SELF_DEPOSITS: 'false' } })
  service = await createApiKey(t, ['service'])
  ada = await signUp(t)
  bob = await signUp(t)
})
afterAll(() => t.close())

interface ItemResult {
  idempotencyKey: string
  status: number
  replayed: boolean
  result: { id?: string; code?: string; type?: string; [member: string]: unknown }
}
interface BatchResult {
  atomic: boolean
  dryRun: boolean
  succeeded: number
  failed: number
  items: ItemResult[]
}

function postBatch(
  headers: Record<string, string>,
  body: Record<string, unknown>,
): Promise<LightMyRequestResponse> {
  return t.app.inject({ method: 'POST', url: '/api/v1/batches', headers, payload: body })
}

async function batchOk(headers: Record<string, string>, body: Record<string, unknown>): Promise<BatchResult> {
  const response = await postBatch(headers, body)
  expect(response.statusCode, response.body).toBe(200)
  expect(response.headers['content-type']).toMatch(/^application\/json/)
  return response.json<BatchResult>()
}

async function walletPair(): Promise<[WalletView, WalletView]> {
  return [
    await openWallet(t, service.headers, 'USD', randomUUID()),
    await openWallet(t, service.headers, 'USD', randomUUID()),
  ]
}

async function counts() {
  const [transactions, events, keys] = await Promise.all([
    t.database.db
      .selectFrom('transactions')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow(),
    t.database.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow(),
    t.database.db
      .selectFrom('idempotency_keys')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow(),
  ])
  return { transactions: Number(transactions.n), events: Number(events.n), keys: Number(keys.n) }
}

describe('POST /batches, independent', () => {
  it('posts each movement alone, with the status its own route would answer', async () => {
    const [a, b] = await walletPair()
    const keys = [idempotencyKey('b'), idempotencyKey('b'), idempotencyKey('b'), idempotencyKey('b')]
    const body = {
      items: [
        { type: 'deposit', idempotencyKey: keys[0], walletId: a.id, amount: '50.00', reference: 'psp-1' },
        { type: 'transfer', idempotencyKey: keys[1], fromWalletId: a.id, toWalletId: b.id, amount: '20.00' },
        { type: 'withdrawal', idempotencyKey: keys[2], walletId: b.id, amount: '100.00' },
        { type: 'purchase', idempotencyKey: keys[3], walletId: a.id, merchant: 'acme', amount: '5.00' },
      ],
    }
    const result = await batchOk(service.headers, body)
    expect(result).toMatchObject({ atomic: false, dryRun: false, succeeded: 3, failed: 1 })
    expect(
      result.items.map((i) => [i.idempotencyKey, i.status, i.replayed, i.result.code ?? i.result.type]),
    ).toEqual([
      [keys[0], 201, false, 'deposit'],
      [keys[1], 201, false, 'transfer'],
      [keys[2], 422, false, 'insufficient_funds'],
      [keys[3], 201, false, 'purchase'],
    ])
    expect(await walletBalance(t, service.headers, a.id)).toBe('25.00')
    expect(await walletBalance(t, service.headers, b.id)).toBe('20.00')

    // The whole batch again: every answer replayed, nothing moves.
    const before = await counts()
    const response = await postBatch(service.headers, body)
    expect(response.headers['idempotency-replayed']).toBe('true')
    const again = response.json<BatchResult>()
    expect(again.items.map((i) => [i.status, i.replayed])).toEqual([
      [201, true],
      [201, true],
      [422, true],
      [201, true],
    ])
    expect(again.items[1]!.result).toEqual(result.items[1]!.result)
    expect(await counts()).toEqual(before)

    // One item again through its own route, with its key: the same answer, replayed.
    const single = await postMoney(
      t,
      service.headers,
      '/api/v1/transfers',
      { fromWalletId: a.id, toWalletId: b.id, amount: '20.00' },
      keys[1],
    )
    expect(single.statusCode).toBe(201)
    expect(single.headers['idempotency-replayed']).toBe('true')
    expect(single.json<{ id: string }>().id).toBe(result.items[1]!.result.id)
    await expectLedgerConsistent(t.database.db)
  })

  it('replays an item a single request posted, and refuses an item whose key was used for another request', async () => {
    const [a, b] = await walletPair()
    await fund(t, service.headers, a.id, '10.00')
    const key = idempotencyKey('single')
    const first = await postMoney(
      t,
      service.headers,
      '/api/v1/transfers',
      { fromWalletId: a.id, toWalletId: b.id, amount: '1.00' },
      key,
    )
    expect(first.statusCode).toBe(201)
    const result = await batchOk(service.headers, {
      items: [
        { type: 'transfer', idempotencyKey: key, fromWalletId: a.id, toWalletId: b.id, amount: '1.00' },
        {
          type: 'transfer',
          idempotencyKey: idempotencyKey('x'),
          fromWalletId: a.id,
          toWalletId: b.id,
          amount: '2.00',
        },
      ],
    })
    expect(result.items[0]).toMatchObject({
      status: 201,
      replayed: true,
      result: { id: first.json<{ id: string }>().id },
    })
    expect(result.items[1]).toMatchObject({ status: 201, replayed: false })
    const reused = await batchOk(service.headers, {
      items: [
        { type: 'transfer', idempotencyKey: key, fromWalletId: a.id, toWalletId: b.id, amount: '3.00' },
      ],
    })
    expect(reused.items[0]).toMatchObject({ status: 422, result: { code: 'idempotency_key_reused' } })
    expect(await walletBalance(t, service.headers, a.id)).toBe('7.00')
  })

  it("applies a user's own movements and refuses, item by item, what the user may not do", async () => {
    const adaUsd = await openWallet(t, ada.headers, 'USD')
    const bobUsd = await openWallet(t, bob.headers, 'USD')
    await fund(t, service.headers, adaUsd.id, '10.00')
    const result = await batchOk(ada.headers, {
      items: [
        {
          type: 'transfer',
          idempotencyKey: idempotencyKey('u'),
          fromWalletId: adaUsd.id,
          toWalletId: bobUsd.id,
          amount: '1.00',
        },
        {
          type: 'transfer',
          idempotencyKey: idempotencyKey('u'),
          fromWalletId: bobUsd.id,
          toWalletId: adaUsd.id,
          amount: '1.00',
        },
        { type: 'deposit', idempotencyKey: idempotencyKey('u'), walletId: adaUsd.id, amount: '1000.00' },
      ],
    })
    expect(result.items.map((i) => [i.status, i.result.code ?? i.result.type])).toEqual([
      [201, 'transfer'],
      [404, 'wallet_not_found'],
      [403, 'self_deposit_disabled'],
    ])
    // Bob's balance is Bob's: Ada's view of the transfer shows none of it.
    const entries = (
      result.items[0]!.result as { entries: { walletId?: string; balanceAfter: string | null }[] }
    ).entries
    expect(entries.find((e) => e.walletId === bobUsd.id)?.balanceAfter).toBeNull()
  })
})

describe('POST /batches, atomic', () => {
  it('applies all movements, in order, each seeing the ones before it', async () => {
    const [a, b] = await walletPair()
    const before = await counts()
    const result = await batchOk(service.headers, {
      atomic: true,
      items: [
        { type: 'deposit', idempotencyKey: idempotencyKey('at'), walletId: a.id, amount: '30.00' },
        {
          type: 'transfer',
          idempotencyKey: idempotencyKey('at'),
          fromWalletId: a.id,
          toWalletId: b.id,
          amount: '30.00',
        },
        { type: 'withdrawal', idempotencyKey: idempotencyKey('at'), walletId: b.id, amount: '10.00' },
      ],
    })
    expect(result).toMatchObject({ atomic: true, succeeded: 3, failed: 0 })
    expect(await walletBalance(t, service.headers, a.id)).toBe('0.00')
    expect(await walletBalance(t, service.headers, b.id)).toBe('20.00')
    const after = await counts()
    expect(after.transactions - before.transactions).toBe(3)
    expect(after.keys - before.keys).toBe(3)
    // The same events as three single requests would have written.
    const types = await t.database.db
      .selectFrom('outbox')
      .select('type')
      .where(
        'aggregate_id',
        'in',
        result.items.map((i) => i.result.id!),
      )
      .execute()
    expect(types.map((r) => r.type)).toEqual([
      'transaction.posted',
      'transaction.posted',
      'transaction.posted',
    ])
  })

  it('applies nothing when one movement is refused, and says which', async () => {
    const [a, b] = await walletPair()
    await fund(t, service.headers, a.id, '10.00')
    const before = await counts()
    const items = [
      {
        type: 'transfer',
        idempotencyKey: idempotencyKey('ar'),
        fromWalletId: a.id,
        toWalletId: b.id,
        amount: '4.00',
      },
      {
        type: 'transfer',
        idempotencyKey: idempotencyKey('ar'),
        fromWalletId: a.id,
        toWalletId: b.id,
        amount: '7.00',
      },
      { type: 'deposit', idempotencyKey: idempotencyKey('ar'), walletId: b.id, amount: '1.00' },
    ]
    const response = await postBatch(service.headers, { atomic: true, items })
    expect(response.statusCode).toBe(422)
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
    const problem = response.json<Problem & { index: number; items: ItemResult[] }>()
    expect(problem.code).toBe('atomic_batch_refused')
    expect(problem.index).toBe(1)
    expect(problem.detail).toContain('insufficient')
    expect(problem.items.map((i) => [i.status, i.result.code])).toEqual([
      [424, 'batch_item_not_applied'],
      [422, 'insufficient_funds'],
      [424, 'batch_item_not_applied'],
    ])
    expect(await counts()).toEqual(before)
    expect(await walletBalance(t, service.headers, a.id)).toBe('10.00')
    expect(await walletBalance(t, service.headers, b.id)).toBe('0.00')
    // Nothing was recorded: once the money is there, the same batch goes through.
    await fund(t, service.headers, a.id, '1.00')
    const retried = await batchOk(service.headers, { atomic: true, items })
    expect(retried.succeeded).toBe(3)
    const replay = await postBatch(service.headers, { atomic: true, items })
    expect(replay.statusCode).toBe(200)
    expect(replay.headers['idempotency-replayed']).toBe('true')
    expect(replay.json<BatchResult>().items.every((i) => i.replayed)).toBe(true)
    expect(await walletBalance(t, service.headers, a.id)).toBe('0.00')
    await expectLedgerConsistent(t.database.db)
  })

  it('refuses an atomic batch some of whose keys already have answers', async () => {
    const [a, b] = await walletPair()
    await fund(t, service.headers, a.id, '10.00')
    const used = idempotencyKey('used')
    await postMoney(
      t,
      service.headers,
      '/api/v1/transfers',
      { fromWalletId: a.id, toWalletId: b.id, amount: '1.00' },
      used,
    )
    const response = await postBatch(service.headers, {
      atomic: true,
      items: [
        { type: 'transfer', idempotencyKey: used, fromWalletId: a.id, toWalletId: b.id, amount: '1.00' },
        {
          type: 'transfer',
          idempotencyKey: idempotencyKey('new'),
          fromWalletId: a.id,
          toWalletId: b.id,
          amount: '1.00',
        },
      ],
    })
    expect(response.statusCode).toBe(422)
    expect(response.json<Problem>()).toMatchObject({ code: 'batch_partly_recorded', recorded: [used] })
    expect(await walletBalance(t, service.headers, a.id)).toBe('9.00')
  })
})

describe('POST /batches, dry run', () => {
  it('answers what would happen under the locks and changes nothing', async () => {
    const [a, b] = await walletPair()
    await fund(t, service.headers, a.id, '10.00')
    const before = await counts()
    const items = [
      {
        type: 'transfer',
        idempotencyKey: idempotencyKey('d'),
        fromWalletId: a.id,
        toWalletId: b.id,
        amount: '6.00',
      },
      {
        type: 'transfer',
        idempotencyKey: idempotencyKey('d'),
        fromWalletId: a.id,
        toWalletId: b.id,
        amount: '6.00',
      },
    ]
    for (const atomic of [false, true]) {
      const result = await batchOk(service.headers, { dryRun: true, atomic, items })
      expect(result).toMatchObject({ dryRun: true, atomic, succeeded: 1, failed: 1 })
      expect(result.items.map((i) => [i.status, i.result.code ?? i.result.type])).toEqual([
        [201, 'transfer'],
        [422, 'insufficient_funds'],
      ])
    }
    expect(await counts()).toEqual(before)
    expect(await walletBalance(t, service.headers, a.id)).toBe('10.00')
    // The keys were not spent: the real batch applies.
    const real = await batchOk(service.headers, { items })
    expect(real.items.map((i) => [i.status, i.replayed])).toEqual([
      [201, false],
      [422, false],
    ])
  })
})

describe('POST /batches, bad input', () => {
  it.each([
    ['no items', { items: [] }],
    ['an item without a key', { items: [{ type: 'deposit', walletId: randomUUID(), amount: '1.00' }] }],
    [
      'an unknown type',
      { items: [{ type: 'refund', idempotencyKey: 'k', walletId: randomUUID(), amount: '1.00' }] },
    ],
    ['an unknown member', { items: [], verbose: true }],
  ])('refuses %s with a problem and changes nothing', async (_, body) => {
    const before = await counts()
    const response = await postBatch(service.headers, body)
    expect(response.statusCode).toBeOneOf([400, 422])
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(await counts()).toEqual(before)
  })

  it('refuses more than 1,000 movements and repeated keys', async () => {
    const [a] = await walletPair()
    const item = (key: string) => ({ type: 'deposit', idempotencyKey: key, walletId: a.id, amount: '1.00' })
    const tooMany = await postBatch(service.headers, {
      items: Array.from({ length: 1001 }, (_, i) => item(`many-${i}`)),
    })
    expect(tooMany.statusCode).toBeOneOf([400, 422])
    const repeated = await postBatch(service.headers, { items: [item('same'), item('same')] })
    expect(repeated.statusCode).toBe(422)
    expect(repeated.json<Problem>()).toMatchObject({ code: 'duplicate_batch_keys', keys: ['same'] })
    expect(await walletBalance(t, service.headers, a.id)).toBe('0.00')
    const anonymous = await postBatch({}, { items: [item('anon')] })
    expect(anonymous.statusCode).toBe(401)
  })

  it('takes 1,000 movements in one batch', async () => {
    const [a, b] = await walletPair()
    await fund(t, service.headers, a.id, '1000.00')
    const items = Array.from({ length: 1000 }, (_, i) => ({
      type: 'transfer',
      idempotencyKey: `thousand-${a.id}-${i}`,
      fromWalletId: i % 2 ? b.id : a.id,
      toWalletId: i % 2 ? a.id : b.id,
      amount: '1.00',
    }))
    const result = await batchOk(service.headers, { items })
    expect(result.succeeded).toBe(1000)
    expect(await walletBalance(t, service.headers, a.id)).toBe('1000.00')
    await expectLedgerConsistent(t.database.db)
  })
})
