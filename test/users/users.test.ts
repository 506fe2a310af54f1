import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { User } from '../../src/auth/auth.schemas.js'
import type { UserList } from '../../src/users/users.schemas.js'
import type { WalletView } from '../../src/wallets/wallets.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import {
  type AuthHeaders,
  type CreatedApiKey,
  createApiKey,
  type SignedUpUser,
  signUp,
} from '../auth-fixtures.js'
import { openWallet, type Problem } from '../wallets/fixtures.js'

/**
 * The admins' directory of users (issue 17, the console's admin pages): GET /api/v1/users with
 * an email filter and cursor paging, GET /api/v1/users/{id}, and GET /api/v1/wallets?userId=.
 */

let t: TestApp
let admin: SignedUpUser
let user: SignedUpUser
let service: CreatedApiKey
/** Five users sharing a marker in their emails, in the order they were created. */
let marked: SignedUpUser[]
let marker: string

beforeAll(async () => {
  t = await createTestApp()
  admin = await signUp(t, { roles: ['admin'] })
  user = await signUp(t, { name: 'Plain User' })
  service = await createApiKey(t, ['service'])
  marker = `pager${randomUUID().slice(0, 8)}`
  marked = []
  // One at a time: ids are UUIDv7, so creation order is the order the list must keep.
  for (let i = 0; i < 5; i += 1) {
    marked.push(await signUp(t, { email: `${i}.${marker}@Example.test`, name: `Marked ${i}` }))
  }
})
afterAll(() => t?.close())

function listUsers(headers: AuthHeaders | Record<string, never>, query: Record<string, string> = {}) {
  const search = new URLSearchParams(query).toString()
  return t.app.inject({ method: 'GET', url: `/api/v1/users${search ? `?${search}` : ''}`, headers })
}

function expectProblem(response: Awaited<ReturnType<typeof listUsers>>, status: number, code: string) {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(response.json<Problem>().code).toBe(code)
}

describe('GET /api/v1/users', () => {
  it('lists users newest first for an admin, without credentials', async () => {
    const response = await listUsers(admin.headers)
    expect(response.statusCode, response.body).toBe(200)
    const page = response.json<UserList>()
    const ids = page.items.map((item) => item.id)
    expect(ids).toEqual([...ids].sort().reverse())
    // The last user created is first; the admin, created before them all, comes after.
    expect(ids[0]).toBe(marked.at(-1)!.userId)
    expect(ids.indexOf(admin.userId)).toBeGreaterThan(ids.indexOf(user.userId))
    const plain = page.items.find((item) => item.id === user.userId)
    expect(plain).toEqual({
      id: user.userId,
      email: user.email,
      name: 'Plain User',
      roles: ['user'],
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    })
    expect(page.items.find((item) => item.id === admin.userId)?.roles).toEqual(['admin'])
    expect(response.body).not.toContain('password')
    expect(response.body).not.toContain('argon2')
    expect(page.nextCursor).toBeNull()
  })

  it('is for admins only: 403 for a user and a service, 401 without a credential', async () => {
    expectProblem(await listUsers(user.headers), 403, 'forbidden')
    expectProblem(await listUsers(service.headers), 403, 'forbidden')
    expectProblem(await listUsers({}), 401, 'unauthorized')
  })

  it('filters by a part of the email, ignoring case', async () => {
    const newestFirst = marked.map((m) => m.userId).reverse()
    for (const email of [marker, marker.toUpperCase(), `${marker}@example.TEST`, `  ${marker}  `]) {
      const response = await listUsers(admin.headers, { email })
      expect(response.statusCode, response.body).toBe(200)
      expect(
        response.json<UserList>().items.map((item) => item.id),
        email,
      ).toEqual(newestFirst)
    }
    // A prefix of one email, which the other four do not start with.
    const prefix = await listUsers(admin.headers, { email: `3.${marker}` })
    expect(prefix.json<UserList>().items.map((item) => item.email)).toEqual([`3.${marker}@Example.test`])
    // Wildcards of LIKE are plain characters: no email holds a % or an _.
    for (const email of ['%', '_', `${marker.slice(0, 3)}%`]) {
      const response = await listUsers(admin.headers, { email })
      expect(response.json<UserList>().items, email).toEqual([])
    }
    // Empty means everyone.
    const everyone = await listUsers(admin.headers, { email: '' })
    expect(everyone.json<UserList>().items.length).toBeGreaterThanOrEqual(7)
  })

  it('pages with limit and cursor, each user once, in order', async () => {
    const seen: string[] = []
    let cursor: string | null = null
    const sizes: number[] = []
    do {
      const query: Record<string, string> = { email: marker, limit: '2' }
      if (cursor) query.cursor = cursor
      const response = await listUsers(admin.headers, query)
      expect(response.statusCode, response.body).toBe(200)
      const page: UserList = response.json<UserList>()
      sizes.push(page.items.length)
      seen.push(...page.items.map((item) => item.id))
      cursor = page.nextCursor
    } while (cursor)
    expect(sizes).toEqual([2, 2, 1])
    expect(seen).toEqual(marked.map((m) => m.userId).reverse())

    // A page that ends exactly at the last user says so: no cursor to an empty page.
    const exact = await listUsers(admin.headers, { email: marker, limit: '5' })
    expect(exact.json<UserList>()).toMatchObject({ nextCursor: null })
    expect(exact.json<UserList>().items).toHaveLength(5)
  })

  it('refuses a cursor it did not issue (400), and limits out of bounds (400, or 422 past 500)', async () => {
    for (const cursor of ['not-a-cursor', Buffer.from('0190').toString('base64url'), 'x'.repeat(200)]) {
      expectProblem(await listUsers(admin.headers, { cursor }), 400, 'invalid_cursor')
    }
    for (const limit of ['0', '1.5', 'ten']) {
      const response = await listUsers(admin.headers, { limit })
      expect(response.statusCode, `limit=${limit}: ${response.body}`).toBe(400)
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
    }
    // Past the documented bound of 500, as every list of the API answers it.
    expectProblem(await listUsers(admin.headers, { limit: '501' }), 422, 'limit_exceeded')
    const unknown = await listUsers(admin.headers, { role: 'admin' })
    expect(unknown.statusCode, unknown.body).toBe(400)
  })
})

describe('GET /api/v1/users/{id}', () => {
  it('shows one user to an admin', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: `/api/v1/users/${marked[2]!.userId}`,
      headers: admin.headers,
    })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json<User>()).toMatchObject({
      id: marked[2]!.userId,
      email: `2.${marker}@Example.test`,
      name: 'Marked 2',
      roles: ['user'],
    })
  })

  it('answers 404 user_not_found for an id of nobody, 400 for a malformed one, 403 for a user', async () => {
    const nobody = randomUUID()
    const missing = await t.app.inject({
      method: 'GET',
      url: `/api/v1/users/${nobody}`,
      headers: admin.headers,
    })
    expectProblem(missing, 404, 'user_not_found')
    expect(missing.json<Problem & { userId: string }>().userId).toBe(nobody)
    const malformed = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/nobody',
      headers: admin.headers,
    })
    expect(malformed.statusCode, malformed.body).toBe(400)
    const own = await t.app.inject({
      method: 'GET',
      url: `/api/v1/users/${user.userId}`,
      headers: user.headers,
    })
    expectProblem(own, 403, 'forbidden')
  })
})

describe('GET /api/v1/wallets?userId=', () => {
  let usd: WalletView
  let eur: WalletView

  beforeAll(async () => {
    usd = await openWallet(t, user.headers, 'USD')
    eur = await openWallet(t, user.headers, 'EUR')
    await openWallet(t, marked[0]!.headers, 'USD')
  })

  function walletsOf(headers: AuthHeaders, userId?: string) {
    const query = userId === undefined ? '' : `?userId=${userId}`
    return t.app.inject({ method: 'GET', url: `/api/v1/wallets${query}`, headers })
  }

  it("shows an admin or a service that user's wallets", async () => {
    for (const headers of [admin.headers, service.headers]) {
      const response = await walletsOf(headers, user.userId)
      expect(response.statusCode, response.body).toBe(200)
      const items = response.json<{ items: WalletView[] }>().items
      expect(items.map((wallet) => wallet.id).sort()).toEqual([usd.id, eur.id].sort())
      expect(items.every((wallet) => wallet.userId === user.userId)).toBe(true)
      expect(items.find((wallet) => wallet.id === usd.id)).toMatchObject({
        balance: '0.00',
        status: 'active',
      })
    }
    // A user with none has none; the admin's own list is still their own.
    const none = await walletsOf(admin.headers, marked[1]!.userId)
    expect(none.json<{ items: WalletView[] }>().items).toEqual([])
    const own = await walletsOf(admin.headers)
    expect(own.json<{ items: WalletView[] }>().items).toEqual([])
  })

  it("gives a user their own wallets, and a 404 for anyone else's, as GET /points does", async () => {
    const own = await walletsOf(user.headers, user.userId)
    expect(own.statusCode, own.body).toBe(200)
    expect(own.json<{ items: WalletView[] }>().items).toHaveLength(2)
    const other = marked[0]!
    const refused = await walletsOf(user.headers, other.userId)
    expectProblem(refused, 404, 'user_not_found')
    expect(refused.body).not.toContain(other.email)
    // The same answer whether or not the user exists: a plain user learns nothing of who does.
    const nobody = await walletsOf(user.headers, randomUUID())
    expectProblem(nobody, 404, 'user_not_found')
  })

  it('answers 404 for an admin naming nobody, 400 for a malformed id', async () => {
    expectProblem(await walletsOf(admin.headers, randomUUID()), 404, 'user_not_found')
    const malformed = await walletsOf(admin.headers, 'someone')
    expect(malformed.statusCode, malformed.body).toBe(400)
  })
})
