import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { secretHash } from '../../src/auth/secrets.js'
import type { EventEnvelope, Subscription } from '../../src/events/bus.js'
import { contractViolations } from '../../src/events/contracts.js'
import { createTestApp, type TestApp } from '../app.js'
import {
  type CreatedApiKey,
  createApiKey,
  randomClientIp,
  type SignedUpUser,
  signUp,
} from '../auth-fixtures.js'

let t: TestApp
let admin: SignedUpUser
const subscriptions: Subscription[] = []

beforeAll(async () => {
  t = await createTestApp({ env: { AUTH_CACHE_TTL_SECONDS: '60' } })
  admin = await signUp(t, { roles: ['admin'] })
})
afterAll(async () => {
  await Promise.all(subscriptions.map((s) => s.close()))
  await t.close()
})

async function me(app: TestApp, headers: { authorization: string }): Promise<number> {
  return (await app.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers })).statusCode
}

/** Two requests, so the second is answered from the cache (checked by the entry being there). */
async function cached(app: TestApp, credential: string, headers: { authorization: string }) {
  expect(await me(app, headers)).toBe(200)
  expect(await me(app, headers)).toBe(200)
  expect([...app.container.auth.principals!.keys()]).toContain(secretHash(credential))
}

async function revokeKey(app: TestApp, key: CreatedApiKey) {
  const response = await app.app.inject({
    method: 'DELETE',
    url: `/api/v1/api-keys/${key.id}`,
    headers: admin.headers,
  })
  expect(response.statusCode, response.body).toBe(204)
}

async function signOut(app: TestApp, user: SignedUpUser) {
  const response = await app.app.inject({
    method: 'POST',
    url: '/api/v1/auth/sign-out',
    headers: user.headers,
  })
  expect(response.statusCode, response.body).toBe(204)
}

/** The events the bus delivers from now on (a broadcast subscription, as the API processes use). */
async function collect(app: TestApp): Promise<EventEnvelope[]> {
  const received: EventEnvelope[] = []
  subscriptions.push(
    await app.container.bus.subscribe(
      `revocations-${Date.now()}`,
      ['api_key.revoked', 'session.revoked', 'access_token.revoked'],
      async (event) => {
        received.push(event)
      },
      { broadcast: true },
    ),
  )
  return received
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('the principal cache in one process', () => {
  it('refuses a revoked API key on the very next request, though the cache held it', async () => {
    const key = await createApiKey(t, ['service'])
    await cached(t, key.key, key.headers)
    await revokeKey(t, key)
    expect(await me(t, key.headers)).toBe(401)
    // Refusals are not cached: the next one asks the database again, and is refused again.
    expect([...t.container.auth.principals!.keys()]).not.toContain(secretHash(key.key))
    expect(await me(t, key.headers)).toBe(401)
  })

  it('refuses a signed-out token at once, and every token of a session revoked from another device', async () => {
    const user = await signUp(t)
    await cached(t, user.token, user.headers)
    await signOut(t, user)
    expect(await me(t, user.headers)).toBe(401)

    const phone = await signUp(t)
    const laptop = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/sign-in',
      remoteAddress: randomClientIp(),
      payload: { email: phone.email, password: phone.password },
    })
    const laptopHeaders = { authorization: `Bearer ${laptop.json().accessToken}` }
    await cached(t, laptop.json().accessToken, laptopHeaders)
    const sessions = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/sessions',
      headers: phone.headers,
    })
    const other = sessions.json().items.find((s: { current: boolean }) => !s.current)
    const revoked = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${other.id}`,
      headers: phone.headers,
    })
    expect(revoked.statusCode, revoked.body).toBe(204)
    expect(await me(t, laptopHeaders)).toBe(401)
    expect(await me(t, phone.headers)).toBe(200)
  })

  it('refuses the cached token of a session killed by refresh-token reuse', async () => {
    const user = await signUp(t)
    await cached(t, user.token, user.headers)
    const refresh = () =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/refresh',
        remoteAddress: randomClientIp(),
        payload: { refreshToken: user.refreshToken },
      })
    const rotated = await refresh()
    expect(rotated.statusCode, rotated.body).toBe(200)
    const newHeaders = { authorization: `Bearer ${rotated.json().accessToken}` }
    await cached(t, rotated.json().accessToken, newHeaders)
    expect((await refresh()).statusCode).toBe(401)
    expect(await me(t, user.headers)).toBe(401)
    expect(await me(t, newHeaders)).toBe(401)
  })

  it('holds hashes of credentials only, never a key or a token', async () => {
    const key = await createApiKey(t, ['service'])
    const user = await signUp(t)
    await cached(t, key.key, key.headers)
    await cached(t, user.token, user.headers)
    const keys = [...t.container.auth.principals!.keys()]
    for (const secret of [key.key, user.token]) {
      expect(keys).not.toContain(secret)
      expect(keys.some((k) => k.includes(secret) || secret.includes(k))).toBe(false)
    }
    for (const k of keys) expect(k).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('writes api_key.revoked and session.revoked with the change, each keeping its contract', async () => {
    const received = await collect(t)
    const key = await createApiKey(t, ['service'])
    await revokeKey(t, key)
    const user = await signUp(t)
    await signOut(t, user)
    await t.container.relay.run()
    const ofKey = () => received.find((e) => e.type === 'api_key.revoked' && e.data.apiKeyId === key.id)
    const ofUser = () => received.find((e) => e.type === 'session.revoked' && e.data.userId === user.userId)
    await until(() => ofKey() !== undefined && ofUser() !== undefined, 'the revocation events')
    // Every revocation of the file so far was published in this run: all keep their contract.
    for (const event of received) expect(contractViolations(event), event.type).toEqual([])
    expect(ofKey()).toMatchObject({ aggregate: { type: 'api_key', id: key.id } })
    expect(ofUser()!.data).toMatchObject({ reason: 'sign_out', tokenIds: [expect.any(String)] })
    // Revoking again changes nothing and writes nothing.
    await revokeKey(t, key)
    const rows = await t.database.db
      .selectFrom('outbox')
      .select('id')
      .where('type', '=', 'api_key.revoked')
      .where('aggregate_id', '=', key.id)
      .execute()
    expect(rows).toHaveLength(1)
  })
})

describe('AUTH_CACHE_TTL_SECONDS, the bound without any event', () => {
  it('lets a key revoked behind the process back work until the TTL, not after', async () => {
    const short = await createTestApp({ env: { AUTH_CACHE_TTL_SECONDS: '1' } })
    try {
      const key = await createApiKey(short, ['service'])
      await cached(short, key.key, key.headers)
      // As another process revoking it whose event never comes: only the database knows.
      const revokedAt = Date.now()
      await short.database.db
        .updateTable('api_keys')
        .set({ revoked_at: new Date() })
        .where('id', '=', key.id)
        .execute()
      expect(await me(short, key.headers)).toBe(200)
      await until(async () => (await me(short, key.headers)) === 401, 'the TTL to end', 5_000)
      expect(Date.now() - revokedAt).toBeLessThan(3_000)
    } finally {
      await short.close()
    }
  })

  it('0 turns the cache off: every request asks the database', async () => {
    const off = await createTestApp({ env: { AUTH_CACHE_TTL_SECONDS: '0' } })
    try {
      expect(off.container.auth.principals).toBeNull()
      const key = await createApiKey(off, ['service'])
      expect(await me(off, key.headers)).toBe(200)
      await off.database.db
        .updateTable('api_keys')
        .set({ revoked_at: new Date() })
        .where('id', '=', key.id)
        .execute()
      expect(await me(off, key.headers)).toBe(401)
    } finally {
      await off.close()
    }
  })
})
