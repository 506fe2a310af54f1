import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PostingRequest } from '../../src/ledger/posting-types.js'
import type { HistoryPageView, WalletView } from '../../src/wallets/wallets.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent } from '../ledger.js'
import { deposit, openWallet, type Problem, pause } from './fixtures.js'

type HistoryItem = HistoryPageView['items'][number]

let t: TestApp
let owner: SignedUpUser
let service: CreatedApiKey
let wallet: WalletView

const SEEDED = 1000
const BATCH = 100

/** Seed i is a deposit of 1.00, except every tenth, a withdrawal of 0.50: the history has two types. */
function seedRequest(walletId: string, i: number): PostingRequest {
  const withdrawal = i % 10 === 9
  const amount = withdrawal ? 50n : 100n
  const world = { system: { name: 'world', currency: 'USD' } }
  return {
    type: withdrawal ? 'withdrawal' : 'deposit',
    currency: 'USD',
    amount,
    legs: withdrawal
      ? [
          { account: { wallet: walletId }, currency: 'USD', amount: -amount },
          { account: world, currency: 'USD', amount },
        ]
      : [
          { account: world, currency: 'USD', amount: -amount },
          { account: { wallet: walletId }, currency: 'USD', amount },
        ],
    reference: `seed-${i}`,
  }
}

beforeAll(async () => {
  t = await createTestApp()
  owner = await signUp(t)
  service = await createApiKey(t, ['service'])
  wallet = await openWallet(t, owner.headers, 'USD')
  // Through the posting engine, a hundred per database transaction: the same code the routes
  // use, without a thousand HTTP round trips.
  for (let start = 0; start < SEEDED; start += BATCH) {
    const requests = Array.from({ length: BATCH }, (_, j) => seedRequest(wallet.id, start + j))
    const outcomes = await t.database.db
      .transaction()
      .execute((trx) => t.container.ledger.post(trx, requests))
    expect(outcomes.every((o) => o.ok)).toBe(true)
    // Batches a few milliseconds apart, so each has its own createdAt for the from/to filters.
    await pause(5)
  }
})
afterAll(() => t.close())

async function page(query: string, walletId = wallet.id) {
  return t.app.inject({
    method: 'GET',
    url: `/api/v1/wallets/${walletId}/transactions?${query}`,
    headers: owner.headers,
  })
}

/** Follows nextCursor to the end; `between` runs before each next page is read. */
async function readAll(query: string, between?: () => Promise<unknown>) {
  const items: HistoryItem[] = []
  const sizes: number[] = []
  let cursor: string | null = null
  do {
    const cursorParam: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''
    const [response] = await Promise.all([page(`${query}${cursorParam}`), between?.()])
    expect(response.statusCode, response.body).toBe(200)
    const body = response.json<HistoryPageView>()
    items.push(...body.items)
    sizes.push(body.items.length)
    cursor = body.nextCursor
  } while (cursor !== null)
  return { items, sizes }
}

const minor = (amount: string) => BigInt(amount.replace('.', ''))

/** Newest first with nothing skipped: each item's balance minus its amount is the next item's balance. */
function expectUnbrokenChain(items: HistoryItem[]): void {
  for (let i = 0; i + 1 < items.length; i++) {
    expect(minor(items[i]!.balanceAfter) - minor(items[i]!.amount), `gap after item ${i}`).toBe(
      minor(items[i + 1]!.balanceAfter),
    )
  }
}

const seedIndex = (item: HistoryItem) => Number(item.reference!.slice('seed-'.length))

describe('history pages', () => {
  it('gives each of 1,000 transactions exactly once, newest first, in pages of 37', async () => {
    const { items, sizes } = await readAll('limit=37')
    expect(sizes).toEqual([...Array.from({ length: 27 }, () => 37), 1])
    expect(new Set(items.map((i) => i.transactionId)).size).toBe(SEEDED)
    expect(items.map(seedIndex)).toEqual(Array.from({ length: SEEDED }, (_, i) => SEEDED - 1 - i))
    expectUnbrokenChain(items)
    expect(items.at(-1)).toMatchObject({
      amount: '1.00',
      balanceAfter: '1.00',
      type: 'deposit',
      currency: 'USD',
    })
    expect(items[0]).toMatchObject({ amount: '-0.50', type: 'withdrawal', balanceAfter: '850.00' })
  })

  it('neither repeats nor skips a transaction while new ones are posted between and during page reads', async () => {
    const posted: string[] = []
    const postSome = async () => {
      const responses = await Promise.all([0, 1, 2].map(() => deposit(t, service.headers, wallet.id, '0.01')))
      for (const response of responses) {
        expect(response.statusCode, response.body).toBe(201)
        posted.push(response.json().id)
      }
    }
    const { items } = await readAll('limit=37', postSome)

    const seeded = items.filter((i) => i.reference?.startsWith('seed-'))
    expect(seeded.map(seedIndex)).toEqual(Array.from({ length: SEEDED }, (_, i) => SEEDED - 1 - i))
    // Deposits racing the first page may show up on it; none posted later may, and none twice.
    const ids = items.map((i) => i.transactionId)
    expect(new Set(ids).size).toBe(ids.length)
    expect(items.length - SEEDED).toBeLessThanOrEqual(3)
    expect(posted.length).toBeGreaterThan(3 * 20)
    expectUnbrokenChain(items)
    await expectLedgerConsistent(t.database.db)
  })

  it('defaults to 50 items, takes up to 500, refuses 0 with 400 and 501 with 422', async () => {
    const byDefault = await page('')
    expect(byDefault.json<HistoryPageView>().items).toHaveLength(50)
    expect(byDefault.json<HistoryPageView>().nextCursor).toEqual(expect.any(String))
    expect((await page('limit=500')).json<HistoryPageView>().items).toHaveLength(500)
    for (const limit of ['0', '-1', 'ten']) {
      const response = await page(`limit=${limit}`)
      expect(response.statusCode, `limit=${limit}`).toBe(400)
      expect(response.json<Problem>().code).toBe('invalid_request')
    }
    // Past the documented maximum: a well-formed request past a limit (DESIGN §5).
    const tooMany = await page('limit=501')
    expect(tooMany.statusCode).toBe(422)
    expect(tooMany.json<Problem>().code).toBe('limit_exceeded')
  })

  it('refuses a cursor it did not issue with 400 invalid_cursor', async () => {
    const forged = (text: string) => Buffer.from(text).toString('base64url')
    // The last one is 19 digits, as the format allows, but beyond a bigint.
    for (const cursor of [
      'garbage',
      '%25%25',
      forged('e:-1'),
      forged('x:10'),
      forged('e:9999999999999999999'),
    ]) {
      const response = await page(`cursor=${cursor}`)
      expect(response.statusCode, `cursor ${cursor}: ${response.body}`).toBe(400)
      expect(response.json<Problem>().code).toBe('invalid_cursor')
    }
  })

  it('filters by type, across pages', async () => {
    const { items } = await readAll('limit=37&type=withdrawal')
    expect(items).toHaveLength(SEEDED / 10)
    expect(items.every((i) => i.type === 'withdrawal' && i.amount === '-0.50')).toBe(true)
    expect(items.map(seedIndex)).toEqual(Array.from({ length: SEEDED / 10 }, (_, i) => SEEDED - 1 - i * 10))
    expect((await page('type=exchange')).json<HistoryPageView>()).toEqual({ items: [], nextCursor: null })
  })

  it('filters by from (inclusive) and to (exclusive), across pages', async () => {
    const { items: all } = await readAll('limit=500')
    const seeded = all.filter((i) => i.reference?.startsWith('seed-'))
    const batchStart = (batch: number) => seeded.find((i) => seedIndex(i) === batch * BATCH)!.createdAt
    // Each batch posted in one database transaction at one instant, distinct from its neighbours'.
    expect(new Set(seeded.map((i) => i.createdAt)).size).toBe(SEEDED / BATCH)

    const from = batchStart(3)
    const to = batchStart(6)
    const { items } = await readAll(`limit=37&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`)
    expect(items.map(seedIndex)).toEqual(Array.from({ length: 3 * BATCH }, (_, i) => 6 * BATCH - 1 - i))
    const onlyTo = await readAll(`limit=500&to=${encodeURIComponent(batchStart(1))}`)
    expect(onlyTo.items.map(seedIndex)).toEqual(Array.from({ length: BATCH }, (_, i) => BATCH - 1 - i))
  })

  it("answers 404 for another user's wallet and an unknown one", async () => {
    const stranger = await signUp(t)
    for (const response of [
      await t.app.inject({
        method: 'GET',
        url: `/api/v1/wallets/${wallet.id}/transactions`,
        headers: stranger.headers,
      }),
      await page('', randomUUID()),
    ]) {
      expect(response.statusCode).toBe(404)
    }
  })
})
