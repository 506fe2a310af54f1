import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { authRepository } from '../../src/auth/auth.repository.js'
import { SigningKeys } from '../../src/auth/signing-keys.js'
import { AccessTokens } from '../../src/auth/tokens.js'
import { createTestApp, type TestApp } from '../app.js'
import { signUp } from '../auth-fixtures.js'
import { testShape } from '../shape.js'

const run = promisify(execFile)
let t: TestApp

beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

/** Another process's view of the keys: its own ring, on the same database. */
function otherProcess(now?: () => number) {
  const keys = new SigningKeys(t.database.db, undefined, t.container.logger, {
    accessTokenTtlSeconds: t.container.config.ACCESS_TOKEN_TTL_SECONDS,
    ...(now ? { now } : {}),
  })
  const tokens = new AccessTokens(
    keys,
    {
      issuer: t.container.config.JWT_ISSUER,
      audience: t.container.config.JWT_AUDIENCE,
      ttlSeconds: t.container.config.ACCESS_TOKEN_TTL_SECONDS,
    },
    t.container.logger,
  )
  return { keys, tokens }
}

async function jwksKids(): Promise<string[]> {
  const response = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  return response.json<{ keys: { kid: string }[] }>().keys.map((k) => k.kid)
}

async function me(token: string): Promise<number> {
  return (
    await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: { authorization: `Bearer ${token}` },
    })
  ).statusCode
}

describe('signing key rotation', () => {
  it('signs with the new key, publishes old and new, and keeps old tokens valid until they expire', async () => {
    const ada = await signUp(t)
    const other = otherProcess()
    const oldKid = decodeProtectedHeader(ada.token).kid!
    expect(await other.tokens.verify(ada.token)).not.toBeNull()

    const rotated = await t.container.auth.signingKeys.rotate()
    expect(rotated.previousKid).toBe(oldKid)
    expect(rotated.kid).not.toBe(oldKid)
    expect(rotated.previousPublishedUntil!.getTime()).toBeGreaterThan(
      Date.now() + t.container.config.ACCESS_TOKEN_TTL_SECONDS * 1000,
    )
    expect((await jwksKids()).slice(0, 2)).toEqual([rotated.kid, oldKid])

    // Old tokens still work; new ones are signed with the new key.
    expect(await me(ada.token)).toBe(200)
    const fresh = await signUp(t)
    expect(decodeProtectedHeader(fresh.token).kid).toBe(rotated.kid)
    expect(await me(fresh.token)).toBe(200)

    // The other process has not read the keys since: the unknown kid makes it read them.
    const verified = await other.tokens.verify(fresh.token)
    expect(verified?.userId).toBe(fresh.userId)
    expect((await other.keys.signingKey()).kid).toBe(rotated.kid)
    expect(await other.tokens.verify(ada.token)).not.toBeNull()
  })

  it('stops publishing a retired key once its last tokens have expired', async () => {
    const before = await t.container.auth.signingKeys.publishedKeys()
    const rotated = await t.container.auth.signingKeys.rotate()
    const lifetime = t.container.auth.signingKeys.retiredKeyLifetimeMs
    const later = otherProcess(() => Date.now() + lifetime + 1000)
    const published = (await later.keys.publishedKeys()).map((k) => k.kid)
    expect(published).toEqual([rotated.kid])
    expect(published).not.toContain(before[0]!.kid)
    const meanwhile = otherProcess()
    expect((await meanwhile.keys.publishedKeys()).map((k) => k.kid)).toContain(before[0]!.kid)
  })

  it('reads the keys again for an unknown kid at most once per cooldown', async () => {
    const other = otherProcess()
    await other.keys.signingKey()
    const reads = vi.spyOn(authRepository, 'activeSigningKeys')
    try {
      const forged = (kid: string) =>
        `${Buffer.from(JSON.stringify({ alg: 'EdDSA', kid, typ: 'JWT' })).toString('base64url')}.${Buffer.from('{}').toString('base64url')}.${Buffer.alloc(64).toString('base64url')}`
      expect(await other.tokens.verify(forged('unknown-1'))).toBeNull()
      expect(await other.tokens.verify(forged('unknown-2'))).toBeNull()
      expect(await other.tokens.verify(forged('unknown-3'))).toBeNull()
      expect(reads).toHaveBeenCalledTimes(1)
    } finally {
      reads.mockRestore()
    }
  })
})

// `coffer keys rotate` is a process of its own; the embedded database is one process's only.
const describeOnPostgres = testShape() === 'services' ? describe : () => undefined
describeOnPostgres('coffer keys rotate', () => {
  it('rotates from another process; this one accepts the new tokens and keeps the old', async () => {
    const ada = await signUp(t)
    const env = { ...process.env, DATABASE_URL: t.database.url!, LOG_LEVEL: 'warn' }
    const { stdout } = await run(process.execPath, ['dist/cli/main.js', 'keys', 'rotate'], { env })
    const rotated = JSON.parse(stdout) as { kid: string; previousKid: string }
    expect(rotated.previousKid).toBe(decodeProtectedHeader(ada.token).kid)
    // A token the other process signs with the new key (as a rotated `coffer serve` would).
    const other = otherProcess()
    const token = await other.tokens.issue({
      userId: ada.userId,
      roles: ['user'],
      sessionId: crypto.randomUUID(),
    })
    expect(decodeProtectedHeader(token.token).kid).toBe(rotated.kid)
    // This process has not read the keys since the rotation: the unknown kid makes it read them.
    expect(await me(token.token)).toBe(200)
    expect(await me(ada.token)).toBe(200)
    // Newest first; the keys retired by the tests above are still within their lifetime.
    expect((await jwksKids()).slice(0, 2)).toEqual([rotated.kid, rotated.previousKid])
  })
})
