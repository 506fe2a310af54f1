import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../app.js'
import { bearer, createApiKey, randomClientIp, signUp, TEST_PASSWORD } from '../auth-fixtures.js'

let t: TestApp

beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

function post(url: string, payload: object, headers: Record<string, string> = {}, remoteAddress?: string) {
  return t.app.inject({
    method: 'POST',
    url,
    payload,
    headers,
    remoteAddress: remoteAddress ?? randomClientIp(),
  })
}

function me(headers: Record<string, string>) {
  return t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers })
}

/** A problem body without the member that differs on every request. */
function comparable(body: string): Record<string, unknown> {
  const { requestId: _requestId, ...rest } = JSON.parse(body) as Record<string, unknown>
  return rest
}

describe('register', () => {
  it('creates a user with role user, trims the email and never returns the password', async () => {
    const email = `  Ada-${randomUUID()}@Example.test `
    const response = await post('/api/v1/auth/register', { email, password: TEST_PASSWORD, name: 'Ada' })
    expect(response.statusCode).toBe(201)
    const user = response.json()
    expect(user).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      email: email.trim(),
      name: 'Ada',
      roles: ['user'],
      createdAt: expect.any(String),
    })
    expect(response.body).not.toContain(TEST_PASSWORD)
    const stored = await t.database.db
      .selectFrom('users')
      .select('password_hash')
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow()
    expect(stored.password_hash).toMatch(/^\$argon2id\$/)
  })

  it('answers 409 email_taken for the same email in another case', async () => {
    const email = `grace-${randomUUID()}@example.test`
    expect((await post('/api/v1/auth/register', { email, password: TEST_PASSWORD })).statusCode).toBe(201)
    const again = await post('/api/v1/auth/register', {
      email: ` ${email.toUpperCase()}`,
      password: TEST_PASSWORD,
    })
    expect(again.statusCode).toBe(409)
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(again.json()).toMatchObject({ code: 'email_taken', status: 409 })
  })

  it('refuses passwords shorter than 10 (400) or longer than 256 characters (422, past a limit)', async () => {
    const email = `short-${randomUUID()}@example.test`
    const short = await post('/api/v1/auth/register', { email, password: '123456789' })
    const long = await post('/api/v1/auth/register', { email, password: 'x'.repeat(257) })
    expect(short.json()).toMatchObject({ status: 400, code: 'invalid_request' })
    expect(long.json()).toMatchObject({ status: 422, code: 'limit_exceeded' })
    expect((await post('/api/v1/auth/register', { email, password: '1234567890' })).statusCode).toBe(201)
  })
})

describe('sign-in', () => {
  it('issues an access token, a refresh token and expiresIn', async () => {
    const user = await signUp(t)
    const response = await post('/api/v1/auth/sign-in', {
      email: ` ${user.email.toUpperCase()} `,
      password: TEST_PASSWORD,
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers['cache-control']).toBe('no-store')
    expect(response.json()).toEqual({
      accessToken: expect.stringMatching(/^ey[\w-]+\.[\w-]+\.[\w-]+$/),
      refreshToken: expect.stringMatching(/^[\w-]{43}$/),
      tokenType: 'Bearer',
      expiresIn: 900,
    })
    const whoami = await me(bearer(response.json().accessToken))
    expect(whoami.json()).toMatchObject({
      kind: 'user',
      id: user.userId,
      userId: user.userId,
      roles: ['user'],
    })
    expect(whoami.json().user).toMatchObject({ id: user.userId, email: user.email })
  })

  it('gives the same 401 body for a wrong password and an unknown email', async () => {
    const user = await signUp(t)
    const wrongPassword = await post('/api/v1/auth/sign-in', {
      email: user.email,
      password: 'not the password',
    })
    const unknownEmail = await post('/api/v1/auth/sign-in', {
      email: `nobody-${randomUUID()}@example.test`,
      password: 'not the password',
    })
    expect(wrongPassword.statusCode).toBe(401)
    expect(unknownEmail.statusCode).toBe(401)
    expect(wrongPassword.headers['content-type']).toBe(unknownEmail.headers['content-type'])
    expect(comparable(wrongPassword.body)).toEqual(comparable(unknownEmail.body))
    expect(comparable(wrongPassword.body)).toMatchObject({ code: 'invalid_credentials' })
  })
})

describe('bearer credentials', () => {
  it('answers every bad credential with the same 401 problem', async () => {
    const user = await signUp(t)
    await post('/api/v1/auth/sign-out', {}, user.headers)
    const key = await createApiKey(t, ['service'])
    await t.container.auth.revokeApiKey(key.id)
    const attempts = [
      {},
      { authorization: 'Bearer' },
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: 'Bearer not-a-token' },
      user.headers, // signed out
      key.headers, // revoked
      bearer(`ck_${'A'.repeat(43)}`),
    ]
    const bodies = []
    for (const headers of attempts) {
      const response = await me(headers)
      expect(response.statusCode).toBe(401)
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
      bodies.push(comparable(response.body))
    }
    for (const body of bodies) expect(body).toEqual(bodies[0])
    expect(bodies[0]).toMatchObject({ code: 'unauthorized', status: 401 })
  })
})

describe('refresh', () => {
  it('rotates: the new pair works and the old refresh token does not', async () => {
    const user = await signUp(t)
    const first = await post('/api/v1/auth/refresh', { refreshToken: user.refreshToken })
    expect(first.statusCode).toBe(200)
    const rotated = first.json()
    expect(rotated.refreshToken).not.toBe(user.refreshToken)
    expect((await me(bearer(rotated.accessToken))).statusCode).toBe(200)

    const replay = await post('/api/v1/auth/refresh', { refreshToken: user.refreshToken })
    expect(replay.statusCode).toBe(401)
    expect(replay.json()).toMatchObject({ code: 'invalid_refresh_token' })
  })

  it('revokes the whole session when a rotated refresh token is used again', async () => {
    const user = await signUp(t)
    const rotated = (await post('/api/v1/auth/refresh', { refreshToken: user.refreshToken })).json()
    expect((await post('/api/v1/auth/refresh', { refreshToken: user.refreshToken })).statusCode).toBe(401)

    // The thief's replay killed the legitimate holder's new tokens too.
    const afterReuse = await post('/api/v1/auth/refresh', { refreshToken: rotated.refreshToken })
    expect(afterReuse.statusCode).toBe(401)
    expect(afterReuse.json()).toMatchObject({ code: 'invalid_refresh_token' })
    expect((await me(bearer(rotated.accessToken))).statusCode).toBe(401)
    expect((await me(user.headers)).statusCode).toBe(401)
  })

  it('gives the same 401 for an unknown refresh token', async () => {
    const unknown = await post('/api/v1/auth/refresh', { refreshToken: 'x'.repeat(43) })
    expect(unknown.statusCode).toBe(401)
    expect(unknown.json()).toMatchObject({ code: 'invalid_refresh_token' })
  })

  it('does not accept an expired refresh token', async () => {
    const user = await signUp(t)
    await t.database.db
      .updateTable('refresh_tokens')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('session_id', 'in', (eb) =>
        eb.selectFrom('sessions').select('id').where('user_id', '=', user.userId),
      )
      .execute()
    expect((await post('/api/v1/auth/refresh', { refreshToken: user.refreshToken })).statusCode).toBe(401)
  })
})

describe('sign-out', () => {
  it('refuses both tokens of the session afterwards, and leaves other sessions alone', async () => {
    const user = await signUp(t)
    const otherDevice = (
      await post('/api/v1/auth/sign-in', { email: user.email, password: TEST_PASSWORD })
    ).json()

    const signOut = await post('/api/v1/auth/sign-out', {}, user.headers)
    expect(signOut.statusCode).toBe(204)

    expect((await me(user.headers)).statusCode).toBe(401)
    const refresh = await post('/api/v1/auth/refresh', { refreshToken: user.refreshToken })
    expect(refresh.statusCode).toBe(401)

    expect((await me(bearer(otherDevice.accessToken))).statusCode).toBe(200)
    expect((await post('/api/v1/auth/refresh', { refreshToken: otherDevice.refreshToken })).statusCode).toBe(
      200,
    )
  })

  it('requires a token', async () => {
    expect((await post('/api/v1/auth/sign-out', {})).statusCode).toBe(401)
  })

  it('has no session to end for an API key', async () => {
    const key = await createApiKey(t, ['service'])
    const response = await post('/api/v1/auth/sign-out', {}, key.headers)
    expect(response.statusCode).toBe(409)
    expect(response.json()).toMatchObject({ code: 'no_session' })
    expect((await me(key.headers)).statusCode).toBe(200)
  })
})

describe('sessions: an owned resource', () => {
  it("lists the caller's sessions and marks the current one", async () => {
    const user = await signUp(t)
    await post('/api/v1/auth/sign-in', { email: user.email, password: TEST_PASSWORD })
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: user.headers })
    expect(list.statusCode).toBe(200)
    const items = list.json().items as { current: boolean }[]
    expect(items).toHaveLength(2)
    expect(items.filter((s) => s.current)).toHaveLength(1)
  })

  it("answers 404 to user A for user B's session, exactly as for a session that does not exist", async () => {
    const a = await signUp(t)
    const b = await signUp(t)
    const bSessions = await t.app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: b.headers })
    const bSessionId = bSessions.json().items[0].id as string

    const others = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${bSessionId}`,
      headers: a.headers,
    })
    const missing = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${randomUUID()}`,
      headers: a.headers,
    })
    expect(others.statusCode).toBe(404)
    expect(missing.statusCode).toBe(404)
    const { detail: _d1, instance: _i1, ...othersShape } = comparable(others.body)
    const { detail: _d2, instance: _i2, ...missingShape } = comparable(missing.body)
    expect(othersShape).toEqual(missingShape)
    expect(othersShape).toMatchObject({ code: 'session_not_found' })

    // B's session is untouched.
    expect((await me(b.headers)).statusCode).toBe(200)
    expect((await post('/api/v1/auth/refresh', { refreshToken: b.refreshToken })).statusCode).toBe(200)
  })

  it('lets the owner sign out another of their sessions', async () => {
    const user = await signUp(t)
    const laptop = (await post('/api/v1/auth/sign-in', { email: user.email, password: TEST_PASSWORD })).json()
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: user.headers })
    const laptopSession = (list.json().items as { id: string; current: boolean }[]).find((s) => !s.current)
    const revoke = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${laptopSession?.id}`,
      headers: user.headers,
    })
    expect(revoke.statusCode).toBe(204)
    expect((await me(bearer(laptop.accessToken))).statusCode).toBe(401)
    expect((await me(user.headers)).statusCode).toBe(200)
  })
})

describe('roles', () => {
  it('answers 403 forbidden to a user calling an admin route', async () => {
    const user = await signUp(t)
    for (const request of [
      { method: 'GET' as const, url: '/api/v1/api-keys' },
      { method: 'POST' as const, url: '/api/v1/api-keys', payload: { name: 'x', roles: ['service'] } },
      { method: 'DELETE' as const, url: `/api/v1/api-keys/${randomUUID()}` },
    ]) {
      const response = await t.app.inject({ ...request, headers: user.headers })
      expect(response.statusCode, request.method).toBe(403)
      expect(response.json()).toMatchObject({ code: 'forbidden', status: 403 })
    }
  })

  it('answers 401 to an admin route without credentials', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/api-keys' })
    expect(response.statusCode).toBe(401)
  })
})

describe('API keys', () => {
  it('are created by an admin, shown once, listed without secrets, and refused once revoked', async () => {
    const admin = await signUp(t, { roles: ['admin'] })
    const created = await post('/api/v1/api-keys', { name: 'payments', roles: ['service'] }, admin.headers)
    expect(created.statusCode).toBe(201)
    const key = created.json()
    expect(key).toMatchObject({
      name: 'payments',
      roles: ['service'],
      createdBy: admin.userId,
      revokedAt: null,
    })
    expect(key.key).toMatch(/^ck_[\w-]{43}$/)
    expect(key.key.startsWith(key.prefix)).toBe(true)

    const stored = await t.database.db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', key.id)
      .executeTakeFirstOrThrow()
    expect(JSON.stringify(stored)).not.toContain(key.key)

    const whoami = await me(bearer(key.key))
    expect(whoami.json()).toEqual({
      kind: 'api_key',
      id: key.id,
      userId: null,
      roles: ['service'],
      user: null,
    })

    const list = await t.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: admin.headers })
    expect(list.statusCode).toBe(200)
    expect(list.body).not.toContain(key.key)
    const listed = list.json().items.find((item: { id: string }) => item.id === key.id)
    expect(listed).toMatchObject({ id: key.id, name: 'payments', prefix: key.prefix })
    expect(listed).not.toHaveProperty('key')

    const revoke = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/api-keys/${key.id}`,
      headers: admin.headers,
    })
    expect(revoke.statusCode).toBe(204)
    const refused = await me(bearer(key.key))
    expect(refused.statusCode).toBe(401)
    expect(refused.json()).toMatchObject({ code: 'unauthorized' })
  })

  it('answers 404 api_key_not_found for an unknown id', async () => {
    const admin = await signUp(t, { roles: ['admin'] })
    const response = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/api-keys/${randomUUID()}`,
      headers: admin.headers,
    })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toMatchObject({ code: 'api_key_not_found' })
  })

  it('pages the list newest first with an opaque cursor', async () => {
    const admin = await signUp(t, { roles: ['admin'] })
    for (let i = 0; i < 3; i++) await createApiKey(t, ['service'], `paged-${i}`)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page = await t.app.inject({
        method: 'GET',
        url: '/api/v1/api-keys',
        query: { limit: '2', ...(cursor ? { cursor } : {}) },
        headers: admin.headers,
      })
      expect(page.statusCode).toBe(200)
      const body = page.json() as { items: { id: string }[]; nextCursor: string | null }
      expect(body.items.length).toBeLessThanOrEqual(2)
      seen.push(...body.items.map((item) => item.id))
      cursor = body.nextCursor
    } while (cursor)
    expect(seen).toEqual([...seen].sort().reverse())
    expect(new Set(seen).size).toBe(seen.length)
    const bad = await t.app.inject({
      method: 'GET',
      url: '/api/v1/api-keys?cursor=nonsense',
      headers: admin.headers,
    })
    expect(bad.json()).toMatchObject({ status: 400, code: 'invalid_cursor' })
  })
})

describe('rate limits', () => {
  it('answers the 11th sign-in in a minute from one IP with 429 problem+json and Retry-After', async () => {
    const ip = '203.0.113.7'
    for (let i = 0; i < 10; i++) {
      const attempt = await post(
        '/api/v1/auth/sign-in',
        { email: `guess-${i}@example.test`, password: 'wrong password' },
        {},
        ip,
      )
      expect(attempt.statusCode).toBe(401)
    }
    const limited = await post(
      '/api/v1/auth/sign-in',
      { email: 'guess-10@example.test', password: 'wrong password' },
      {},
      ip,
    )
    expect(limited.statusCode).toBe(429)
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/)
    const retryAfter = Number(limited.headers['retry-after'])
    expect(retryAfter).toBeGreaterThan(0)
    expect(retryAfter).toBeLessThanOrEqual(60)
    expect(limited.json()).toMatchObject({ code: 'rate_limited', status: 429, retryAfter })

    // Another address is not affected.
    const other = await post('/api/v1/auth/sign-in', { email: 'guess-10@example.test', password: 'x' })
    expect(other.statusCode).toBe(401)
  })

  it('cannot be dodged by sending X-Forwarded-For when no proxy is trusted', async () => {
    const ip = '203.0.113.8'
    const statuses: number[] = []
    for (let i = 0; i < 11; i++) {
      const attempt = await post(
        '/api/v1/auth/refresh',
        { refreshToken: `spoofed-${i}` },
        { 'x-forwarded-for': `192.0.2.${i + 1}` },
        ip,
      )
      statuses.push(attempt.statusCode)
    }
    expect(statuses[10]).toBe(429)
  })

  it('limits sign-in per email across addresses', async () => {
    const user = await signUp(t)
    for (let i = 0; i < 9; i++) {
      // signUp signed in once already: 9 more make 10.
      const attempt = await post('/api/v1/auth/sign-in', { email: user.email, password: 'wrong password' })
      expect(attempt.statusCode).toBe(401)
    }
    const limited = await post('/api/v1/auth/sign-in', {
      email: ` ${user.email.toUpperCase()}`,
      password: TEST_PASSWORD,
    })
    expect(limited.statusCode).toBe(429)
    expect(limited.json()).toMatchObject({ code: 'rate_limited' })
  })

  it('limits register and refresh per IP too', async () => {
    const ip = '198.51.100.9'
    const statuses: number[] = []
    for (let i = 0; i < 11; i++) {
      statuses.push((await post('/api/v1/auth/refresh', { refreshToken: `unknown-${i}` }, {}, ip)).statusCode)
    }
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true)
    expect(statuses[10]).toBe(429)

    const registerIp = '198.51.100.10'
    const registered: number[] = []
    for (let i = 0; i < 11; i++) {
      const email = `burst-${randomUUID()}@example.test`
      registered.push(
        (await post('/api/v1/auth/register', { email, password: TEST_PASSWORD }, {}, registerIp)).statusCode,
      )
    }
    expect(registered.slice(0, 10).every((s) => s === 201)).toBe(true)
    expect(registered[10]).toBe(429)
  })
})
