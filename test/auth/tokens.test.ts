import { createHmac, createPublicKey, randomUUID } from 'node:crypto'
import {
  base64url,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  jwtVerify,
  SignJWT,
} from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../app.js'
import { bearer, type SignedUpUser, signUp } from '../auth-fixtures.js'

let t: TestApp
let user: SignedUpUser
let sessionId: string

beforeAll(async () => {
  t = await createTestApp()
  user = await signUp(t)
  sessionId = decodeJwt(user.token).sid as string
})
afterAll(() => t.close())

const now = () => Math.floor(Date.now() / 1000)

function validClaims(): Record<string, unknown> {
  return {
    sub: user.userId,
    roles: ['user'],
    sid: sessionId,
    jti: randomUUID(),
    iat: now(),
    exp: now() + 600,
    iss: 'coffer',
    aud: 'coffer',
  }
}

/** A token signed with Coffer's own key, with the claims and header changed as a test needs. */
async function signedByCoffer(
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const key = await t.container.auth.signingKeys.signingKey()
  const payload = Object.fromEntries(
    Object.entries({ ...validClaims(), ...claims }).filter(([, value]) => value !== undefined),
  )
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, ...header })
    .sign(key.privateKey)
}

function encodeSegment(value: object): string {
  return base64url.encode(JSON.stringify(value))
}

async function statusOf(token: string): Promise<number> {
  const response = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) })
  if (response.statusCode === 401) expect(response.json()).toMatchObject({ code: 'unauthorized' })
  return response.statusCode
}

describe('access tokens', () => {
  it('carry sub, roles, sid, jti, iat, exp, iss and aud, signed with EdDSA and a kid', async () => {
    const header = decodeProtectedHeader(user.token)
    expect(header).toMatchObject({ alg: 'EdDSA', kid: expect.any(String) })
    const claims = decodeJwt(user.token)
    expect(claims).toMatchObject({
      sub: user.userId,
      roles: ['user'],
      sid: expect.any(String),
      jti: expect.any(String),
      iss: 'coffer',
      aud: 'coffer',
    })
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(900)
  })

  it('are accepted when forged here with the right key and claims (so the refusals below are real)', async () => {
    expect(await statusOf(await signedByCoffer())).toBe(200)
  })

  it('are refused with a changed payload', async () => {
    const [header, , signature] = user.token.split('.')
    const promoted = encodeSegment({ ...decodeJwt(user.token), roles: ['admin'] })
    const tampered = `${header}.${promoted}.${signature}`
    expect(await statusOf(tampered)).toBe(401)
    const adminRoute = await t.app.inject({
      method: 'GET',
      url: '/api/v1/api-keys',
      headers: bearer(tampered),
    })
    expect(adminRoute.statusCode).toBe(401)
  })

  it('are refused with a changed signature', async () => {
    const [header, payload, signature = ''] = user.token.split('.')
    const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`
    expect(await statusOf(`${header}.${payload}.${flipped}`)).toBe(401)
  })

  it('are refused with alg none', async () => {
    const header = encodeSegment({ alg: 'none', typ: 'JWT' })
    const payload = encodeSegment(validClaims())
    expect(await statusOf(`${header}.${payload}.`)).toBe(401)
  })

  it('are refused as HS256 signed with the public key', async () => {
    const key = await t.container.auth.signingKeys.signingKey()
    const [jwk] = await t.container.auth.signingKeys.publishedKeys()
    const publicPem = createPublicKey({ key: { ...jwk }, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    })
    const header = encodeSegment({ alg: 'HS256', typ: 'JWT', kid: key.kid })
    const payload = encodeSegment(validClaims())
    for (const secret of [publicPem, Buffer.from(jwk?.x ?? '', 'base64url'), jwk?.x ?? '']) {
      const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')
      expect(await statusOf(`${header}.${payload}.${signature}`)).toBe(401)
    }
  })

  it('are refused once expired', async () => {
    expect(await statusOf(await signedByCoffer({ iat: now() - 1200, exp: now() - 60 }))).toBe(401)
  })

  it('are refused with a wrong iss', async () => {
    expect(await statusOf(await signedByCoffer({ iss: 'someone-else' }))).toBe(401)
  })

  it('are refused with a wrong aud', async () => {
    expect(await statusOf(await signedByCoffer({ aud: 'another-service' }))).toBe(401)
  })

  it('are refused without a jti or with roles that do not exist', async () => {
    expect(await statusOf(await signedByCoffer({ jti: undefined }))).toBe(401)
    expect(await statusOf(await signedByCoffer({ roles: ['root'] }))).toBe(401)
  })

  it("are refused when signed by another Ed25519 key claiming Coffer's kid", async () => {
    const key = await t.container.auth.signingKeys.signingKey()
    const stranger = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
    const token = await new SignJWT(validClaims())
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid })
      .sign(stranger.privateKey)
    expect(await statusOf(token)).toBe(401)
  })

  it('give one 401 body whatever was wrong', async () => {
    const tokens = [
      await signedByCoffer({ exp: now() - 60 }),
      await signedByCoffer({ aud: 'x' }),
      `${encodeSegment({ alg: 'none' })}.${encodeSegment(validClaims())}.`,
    ]
    const bodies = await Promise.all(
      tokens.map(async (token) => {
        const response = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) })
        const { requestId: _requestId, ...rest } = response.json()
        return rest
      }),
    )
    expect(bodies[1]).toEqual(bodies[0])
    expect(bodies[2]).toEqual(bodies[0])
  })
})

describe('GET /.well-known/jwks.json', () => {
  it('publishes the public key with the kid that tokens name, and no private member', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    expect(response.statusCode).toBe(200)
    const { keys } = response.json() as { keys: Record<string, string>[] }
    expect(keys).toHaveLength(1)
    expect(keys[0]).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: expect.any(String),
      kid: decodeProtectedHeader(user.token).kid,
      alg: 'EdDSA',
      use: 'sig',
    })
    expect(keys[0]).not.toHaveProperty('d')
  })

  it('lets another service verify a Coffer token with it', async () => {
    const jwks = (await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
    const { payload } = await jwtVerify(user.token, createLocalJWKSet(jwks), {
      issuer: 'coffer',
      audience: 'coffer',
      algorithms: ['EdDSA'],
    })
    expect(payload.sub).toBe(user.userId)
  })
})
