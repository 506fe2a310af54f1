import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { SigningKeys } from '../../src/auth/signing-keys.js'
import { createContainer } from '../../src/container.js'
import { createLogger } from '../../src/logger.js'
import { createTestApp, type TestApp, testConfig } from '../app.js'
import { bearer, signUp } from '../auth-fixtures.js'
import { createTestDatabase, type TestDatabase } from '../database.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** One process's worth of app and container on a database that outlives it, as across a restart. */
async function startProcess(database: TestDatabase, env: Record<string, string> = {}): Promise<TestApp> {
  const config = testConfig(env)
  const survivesClose = { ...database, close: async () => {} }
  const container = await createContainer(config, createLogger(config), { database: survivesClose })
  const app = await buildApp(container)
  await app.ready()
  return {
    app,
    container,
    database,
    close: async () => {
      await app.close()
      await container.close()
    },
  }
}

function ed25519Pem(): string {
  const { privateKey } = generateKeyPairSync('ed25519')
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
}

describe('the generated signing key', () => {
  it('survives a restart on the same database: tokens issued before still verify', async () => {
    const database = await createTestDatabase()
    cleanups.push(() => database.close())
    const redisPrefix = { REDIS_KEY_PREFIX: `coffer-test:${randomUUID()}:` }

    const first = await startProcess(database, redisPrefix)
    const user = await signUp(first)
    const kidBefore = decodeProtectedHeader(user.token).kid
    await first.close()

    const second = await startProcess(database, redisPrefix)
    cleanups.push(() => second.close())
    const me = await second.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: user.headers })
    expect(me.statusCode).toBe(200)
    expect(me.json().userId).toBe(user.userId)
    const jwks = (await second.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
    expect(jwks.keys.map((k: { kid: string }) => k.kid)).toEqual([kidBefore])
  })

  it('is generated once even when two processes start together', async () => {
    const database = await createTestDatabase()
    cleanups.push(() => database.close())
    const logger = createLogger({ LOG_LEVEL: 'silent' })
    const processes = [1, 2, 3].map(() => new SigningKeys(database.db, undefined, logger))
    const keys = await Promise.all(processes.map((keys) => keys.signingKey()))
    expect(new Set(keys.map((key) => key.kid)).size).toBe(1)
    const rows = await database.db.selectFrom('signing_keys').select('kid').execute()
    expect(rows).toEqual([{ kid: keys[0]?.kid }])
  })
})

describe('JWT_PRIVATE_KEY', () => {
  it('signs with the configured key, given with \\n escapes, and publishes it', async () => {
    const pem = ed25519Pem()
    const testApp = await createTestApp({
      env: { JWT_PRIVATE_KEY: pem.replaceAll('\n', '\\n'), ACCESS_TOKEN_TTL_SECONDS: '60' },
    })
    cleanups.push(() => testApp.close())
    const user = await signUp(testApp)
    const claims = decodeJwt(user.token)
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(60)

    const jwks = (await testApp.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
    expect(jwks.keys).toHaveLength(1)
    expect(jwks.keys[0].kid).toBe(decodeProtectedHeader(user.token).kid)
    const expectedX = createPublicKey(pem).export({ format: 'jwk' }).x
    expect(jwks.keys[0].x).toBe(expectedX)

    expect(await testApp.database.db.selectFrom('signing_keys').selectAll().execute()).toEqual([])
    const me = await testApp.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: bearer(user.token),
    })
    expect(me.statusCode).toBe(200)
  })

  it('stops start-up when it is not an Ed25519 key', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    const testApp = await createTestApp({ env: { JWT_PRIVATE_KEY: pem } })
    cleanups.push(() => testApp.close())
    await expect(testApp.container.auth.prepare()).rejects.toThrow(/Ed25519/)
  })
})
