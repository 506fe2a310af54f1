import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../app.js'
import { bearer, signUp } from '../auth-fixtures.js'

const ISSUER = 'https://idp.example.test/'
const AUDIENCE = 'coffer-api'

interface IdpKey {
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
}

async function idpKey(kid: string): Promise<IdpKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } }
}

/** A stand-in identity provider: serves its JWKS on 127.0.0.1 and counts how often it is fetched. */
let server: Server
let published: IdpKey[] = []
let jwksFetches = 0
let t: TestApp
let firstKey: IdpKey

beforeAll(async () => {
  firstKey = await idpKey('idp-key-1')
  published = [firstKey]
  server = createServer((request, response) => {
    if (request.url !== '/.well-known/jwks.json') {
      response.writeHead(404).end()
      return
    }
    jwksFetches++
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ keys: published.map((key) => key.publicJwk) }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  t = await createTestApp({
    env: {
      AUTH_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      AUTH_ISSUER: ISSUER,
      AUTH_AUDIENCE: AUDIENCE,
      AUTH_JWKS_COOLDOWN_SECONDS: '0',
    },
  })
})

afterAll(async () => {
  await t.close()
  await new Promise((resolve) => server.close(resolve))
})

function idpToken(
  key: IdpKey,
  subject: string,
  overrides: { audience?: string; issuer?: string; expiresIn?: string; name?: string } = {},
): Promise<string> {
  return new SignJWT({ name: overrides.name ?? 'Ext Ernal' })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid })
    .setSubject(subject)
    .setIssuer(overrides.issuer ?? ISSUER)
    .setAudience(overrides.audience ?? AUDIENCE)
    .setIssuedAt()
    .setJti(randomUUID())
    .setExpirationTime(overrides.expiresIn ?? '5m')
    .sign(key.privateKey)
}

function me(token: string) {
  return t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) })
}

async function localUsersOf(subject: string) {
  return t.database.db
    .selectFrom('external_identities')
    .innerJoin('users', 'users.id', 'external_identities.user_id')
    .select(['users.id', 'users.email', 'users.name', 'users.roles'])
    .where('external_identities.issuer', '=', ISSUER)
    .where('external_identities.subject', '=', subject)
    .execute()
}

describe('an external identity provider', () => {
  it('is trusted for its tokens, and its subject becomes one local user on first sight', async () => {
    const subject = `sub-${randomUUID()}`
    const token = await idpToken(firstKey, subject)
    const responses = await Promise.all(Array.from({ length: 8 }, () => me(token)))
    for (const response of responses) expect(response.statusCode).toBe(200)
    const userIds = new Set(responses.map((response) => response.json().userId))
    expect(userIds.size).toBe(1)

    const later = await me(await idpToken(firstKey, subject))
    expect(later.json()).toMatchObject({ kind: 'user', roles: ['user'], userId: [...userIds][0] })
    expect(later.json().user).toMatchObject({ email: null, name: 'Ext Ernal' })

    const users = await localUsersOf(subject)
    expect(users).toHaveLength(1)
    expect(users[0]?.id).toBe([...userIds][0])
  })

  it('fetches the JWKS again when a token names a kid it has not seen (key rotation)', async () => {
    await me(await idpToken(firstKey, `sub-${randomUUID()}`))
    const fetchesBefore = jwksFetches
    const rotated = await idpKey('idp-key-2')
    published = [firstKey, rotated]
    const response = await me(await idpToken(rotated, `sub-${randomUUID()}`))
    expect(response.statusCode).toBe(200)
    expect(jwksFetches).toBeGreaterThan(fetchesBefore)
  })

  it('caches the JWKS between tokens with a known kid', async () => {
    await me(await idpToken(firstKey, `sub-${randomUUID()}`))
    const fetchesBefore = jwksFetches
    for (let i = 0; i < 3; i++)
      expect((await me(await idpToken(firstKey, `sub-${randomUUID()}`))).statusCode).toBe(200)
    expect(jwksFetches).toBe(fetchesBefore)
  })

  it('is refused with a wrong audience, a wrong issuer, an expired token or a key not in its JWKS', async () => {
    const stranger = await idpKey('idp-key-1')
    const subject = `sub-${randomUUID()}`
    const refused = [
      await idpToken(firstKey, subject, { audience: 'someone-else' }),
      await idpToken(firstKey, subject, { issuer: 'https://evil.example.test/' }),
      await idpToken(firstKey, subject, { expiresIn: '-1m' }),
      await idpToken(stranger, subject),
    ]
    for (const token of refused) {
      const response = await me(token)
      expect(response.statusCode).toBe(401)
      expect(response.json()).toMatchObject({ code: 'unauthorized' })
    }
    expect(await localUsersOf(subject)).toEqual([])
  })

  it("gives a user of the provider Coffer's roles, never an admin by the token's say-so", async () => {
    const token = await new SignJWT({ roles: ['admin'] })
      .setProtectedHeader({ alg: 'ES256', kid: firstKey.kid })
      .setSubject(`sub-${randomUUID()}`)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(firstKey.privateKey)
    const adminRoute = await t.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(token) })
    expect(adminRoute.statusCode).toBe(403)
  })

  it("denies an external token's jti after sign-out", async () => {
    const token = await idpToken(firstKey, `sub-${randomUUID()}`)
    expect((await me(token)).statusCode).toBe(200)
    const signOut = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/sign-out',
      headers: bearer(token),
    })
    expect(signOut.statusCode).toBe(204)
    expect((await me(token)).statusCode).toBe(401)
  })

  it("still accepts Coffer's own tokens", async () => {
    const user = await signUp(t)
    expect((await me(user.token)).statusCode).toBe(200)
  })
})
