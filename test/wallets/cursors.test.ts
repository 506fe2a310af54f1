import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppError } from '../../src/errors.js'
import { HistoryCursors, openCursor, sealCursor } from '../../src/wallets/history-cursor.js'
import type { HistoryPageView, WalletView } from '../../src/wallets/wallets.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { deposit, fund, openWallet, type Problem } from './fixtures.js'

/**
 * History cursors are opaque (they say nothing about the ledger, such as how many entries it
 * holds) and unforgeable (only Coffer's key makes one, and only for the wallet it was issued on).
 * Paging itself is covered by test/wallets/pagination.test.ts.
 */

let t: TestApp
let alice: SignedUpUser
let bob: SignedUpUser
let admin: SignedUpUser
let service: CreatedApiKey
let aliceWallet: WalletView
let bobWallet: WalletView

const DEPOSITS = 7

beforeAll(async () => {
  t = await createTestApp()
  ;[alice, bob, admin] = await Promise.all([signUp(t), signUp(t), signUp(t, { roles: ['admin'] })])
  service = await createApiKey(t, ['service'])
  ;[aliceWallet, bobWallet] = await Promise.all([
    openWallet(t, alice.headers, 'USD'),
    openWallet(t, bob.headers, 'USD'),
  ])
  for (let i = 0; i < DEPOSITS; i += 1) {
    await fund(t, service.headers, aliceWallet.id, '1.00')
    await fund(t, service.headers, bobWallet.id, '1.00')
  }
})
afterAll(() => t.close())

function history(headers: { authorization: string }, walletId: string, query: string) {
  return t.app.inject({ method: 'GET', url: `/api/v1/wallets/${walletId}/transactions?${query}`, headers })
}

async function firstCursor(walletId = aliceWallet.id, headers = alice.headers): Promise<string> {
  const response = await history(headers, walletId, 'limit=2')
  expect(response.statusCode, response.body).toBe(200)
  const cursor = response.json<HistoryPageView>().nextCursor
  expect(cursor).toEqual(expect.any(String))
  return cursor!
}

/** The entry seqs of a wallet, newest first, read past the API. */
async function entrySeqs(walletId: string): Promise<bigint[]> {
  const rows = await t.database.db
    .selectFrom('entries')
    .select('seq')
    .where('account_id', '=', walletId)
    .orderBy('seq', 'desc')
    .execute()
  return rows.map((row) => BigInt(row.seq))
}

function expectInvalidCursor(
  response: { statusCode: number; body: string; json: () => unknown },
  label: string,
) {
  expect(response.statusCode, `${label}: ${response.body}`).toBe(400)
  expect((response.json() as Problem).code, label).toBe('invalid_cursor')
}

describe('a history cursor reveals nothing', () => {
  it('does not contain the entry sequence it stands for, in any encoding', async () => {
    const cursor = await firstCursor()
    // The second item of the first page is the position the next page starts below.
    const seq = (await entrySeqs(aliceWallet.id))[1]!
    const bytes = Buffer.from(cursor, 'base64url')
    expect(bytes.toString('latin1')).not.toContain(`e:`)
    expect(bytes.toString('latin1')).not.toContain(String(seq))
    const asBigEndian = Buffer.alloc(8)
    asBigEndian.writeBigUInt64BE(seq)
    expect(bytes.includes(asBigEndian)).toBe(false)
    // The old format, base64url of `e:<seq>`, is not what is issued.
    expect(cursor).not.toBe(Buffer.from(`e:${seq}`).toString('base64url'))
  })

  it('differs every time it is issued, even for the same position', async () => {
    const cursors = await Promise.all([firstCursor(), firstCursor(), firstCursor()])
    expect(new Set(cursors).size).toBe(3)
    const pages = await Promise.all(
      cursors.map((cursor) => history(alice.headers, aliceWallet.id, `cursor=${cursor}`)),
    )
    const bodies = pages.map((page) => page.json<HistoryPageView>().items)
    expect(bodies[1]).toEqual(bodies[0])
    expect(bodies[2]).toEqual(bodies[0])
  })

  it('has the same length however large the ledger grows', async () => {
    const before = await firstCursor()
    for (let i = 0; i < 3; i += 1)
      expect((await deposit(t, service.headers, bobWallet.id, '0.01')).statusCode).toBe(201)
    expect((await firstCursor()).length).toBe(before.length)
  })
})

describe('a history cursor cannot be forged', () => {
  it('refuses a cursor with any byte changed', async () => {
    const bytes = Buffer.from(await firstCursor(), 'base64url')
    // The version, the nonce, the sealed position and the tag.
    for (const index of [0, 1, 12, 13, 20, 21, bytes.length - 1]) {
      const tampered = Buffer.from(bytes)
      tampered[index]! ^= 0x01
      expectInvalidCursor(
        await history(alice.headers, aliceWallet.id, `cursor=${tampered.toString('base64url')}`),
        `byte ${index} flipped`,
      )
    }
  })

  it('refuses a truncated, extended or re-encoded cursor', async () => {
    const cursor = await firstCursor()
    for (const [label, forged] of [
      ['last character dropped', cursor.slice(0, -1)],
      ['last four characters dropped', cursor.slice(0, -4)],
      ['characters appended', `${cursor}AAAA`],
      ['a character Node ignores when decoding inserted', `${cursor.slice(0, 10)}.${cursor.slice(10)}`],
      ['padded base64', `${Buffer.from(cursor, 'base64url').toString('base64')}`],
    ] as const) {
      expectInvalidCursor(
        await history(alice.headers, aliceWallet.id, `cursor=${encodeURIComponent(forged)}`),
        label,
      )
    }
  })

  it('refuses made-up cursors, including the old readable format', async () => {
    for (const [label, forged] of [
      ['random bytes of the right length', randomBytes(37).toString('base64url')],
      ['the old format of a real position', Buffer.from('e:7').toString('base64url')],
      ['empty-looking', 'AAAA'],
      ['not base64', '!!!!'],
    ] as const) {
      expectInvalidCursor(
        await history(alice.headers, aliceWallet.id, `cursor=${encodeURIComponent(forged)}`),
        label,
      )
    }
  })

  it("refuses one wallet's cursor on another wallet, even to an admin who may read both", async () => {
    const alicesCursor = await firstCursor()
    // Bob, on his own wallet, with Alice's cursor: it would otherwise tell him where her history is.
    expectInvalidCursor(
      await history(bob.headers, bobWallet.id, `cursor=${alicesCursor}`),
      "Alice's cursor on Bob's",
    )
    const adminsCursor = await firstCursor(aliceWallet.id, admin.headers)
    expect((await history(admin.headers, aliceWallet.id, `cursor=${adminsCursor}`)).statusCode).toBe(200)
    expectInvalidCursor(
      await history(admin.headers, bobWallet.id, `cursor=${adminsCursor}`),
      'admin, other wallet',
    )
  })
})

describe('paging with sealed cursors', () => {
  it('reads every entry of the wallet exactly once, newest first', async () => {
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const response = await history(
        alice.headers,
        aliceWallet.id,
        `limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      )
      expect(response.statusCode, response.body).toBe(200)
      const page = response.json<HistoryPageView>()
      seen.push(...page.items.map((item) => item.balanceAfter))
      cursor = page.nextCursor
    } while (cursor !== null)
    expect(seen).toEqual(Array.from({ length: DEPOSITS }, (_, i) => `${DEPOSITS - i}.00`))
  })
})

describe('the cursor key', () => {
  it('is kept in the database, so every process of a deployment opens the cursors of every other', async () => {
    const cursor = await firstCursor()
    // A second process on the same database: a fresh HistoryCursors loads the stored key.
    const otherProcess = new HistoryCursors(t.database.db)
    expect(await otherProcess.open(aliceWallet.id, cursor)).toBe((await entrySeqs(aliceWallet.id))[1])
    const sealedThere = await otherProcess.seal(aliceWallet.id, (await entrySeqs(aliceWallet.id))[3]!)
    const page = await history(alice.headers, aliceWallet.id, `cursor=${sealedThere}`)
    expect(page.statusCode, page.body).toBe(200)
    expect(page.json<HistoryPageView>().items.map((item) => item.balanceAfter)).toEqual([
      '3.00',
      '2.00',
      '1.00',
    ])
    const keys = await t.database.db.selectFrom('history_cursor_keys').select('secret').execute()
    expect(keys).toHaveLength(1)
    expect(Buffer.from(keys[0]!.secret, 'base64url')).toHaveLength(32)
  })

  it('is made by the migrations, so no request writes one; a deleted key is made again, once', async () => {
    const other = await createTestApp()
    try {
      const stored = () => other.database.db.selectFrom('history_cursor_keys').select('secret').execute()
      const [made] = await stored()
      expect(made).toBeDefined()
      // An operator rotating the key deletes the row; processes starting together agree on one.
      await other.database.db.deleteFrom('history_cursor_keys').execute()
      const wallet = '00000000-0000-7000-8000-000000000001'
      const processes = Array.from({ length: 4 }, () => new HistoryCursors(other.database.db))
      const sealed = await Promise.all(processes.map((p, i) => p.seal(wallet, BigInt(i + 1))))
      for (const p of processes) {
        expect(await Promise.all(sealed.map((c) => p.open(wallet, c)))).toEqual([1n, 2n, 3n, 4n])
      }
      const remade = await stored()
      expect(remade).toHaveLength(1)
      expect(remade[0]!.secret).not.toBe(made!.secret)
    } finally {
      await other.close()
    }
  })

  it('opens only what it sealed: another key, another wallet and the largest seq', () => {
    const key = randomBytes(32)
    const wallet = '00000000-0000-7000-8000-000000000002'
    const largest = 2n ** 63n - 1n
    expect(openCursor(key, wallet, sealCursor(key, wallet, largest))).toBe(largest)
    // Wallet ids are UUIDs; their case does not make another wallet.
    expect(openCursor(key, wallet.toUpperCase(), sealCursor(key, wallet, 5n))).toBe(5n)
    const refusals = [
      () => openCursor(randomBytes(32), wallet, sealCursor(key, wallet, 5n)),
      () => openCursor(key, '00000000-0000-7000-8000-000000000003', sealCursor(key, wallet, 5n)),
      () => openCursor(key, wallet, sealCursor(key, wallet, 2n ** 63n)),
    ]
    for (const refusal of refusals) {
      expect(refusal).toThrow(AppError)
      expect(refusal).toThrow(/not one this API issued/)
    }
  })
})
