import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../app.js'
import { createApiKey, signUp, TEST_PASSWORD } from '../auth-fixtures.js'

const lines: string[] = []
const PRIVATE_KEY_PEM = generateKeyPairSync('ed25519')
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString()
const ADMIN_PASSWORD = `admin ${randomUUID()}`
let t: TestApp

beforeAll(async () => {
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk))
      done()
    },
  })
  t = await createTestApp({
    env: {
      LOG_LEVEL: 'trace',
      JWT_PRIVATE_KEY: PRIVATE_KEY_PEM,
      COFFER_ADMIN_EMAIL: 'root@example.test',
      COFFER_ADMIN_PASSWORD: ADMIN_PASSWORD,
    },
    logStream,
  })
})
afterAll(() => t.close())

it('never writes a password, token or API key to the log, even at trace level', async () => {
  const user = await signUp(t, { password: `${TEST_PASSWORD} ${randomUUID()}` })
  const refreshed = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/refresh',
    payload: { refreshToken: user.refreshToken },
  })
  const rotated = refreshed.json()
  const key = await createApiKey(t, ['service'])
  await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: key.headers })
  await t.app.inject({ method: 'POST', url: '/api/v1/auth/sign-out', headers: user.headers })
  // A failed attempt is logged as rejected; its password must not be.
  await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/sign-in',
    payload: { email: user.email, password: 'a wrong password' },
  })

  const log = lines.join('')
  expect(log).toContain('incoming request')
  for (const secret of [
    user.password,
    'a wrong password',
    user.token,
    user.refreshToken,
    rotated.accessToken,
    rotated.refreshToken,
    key.key,
  ]) {
    expect(log).not.toContain(secret)
  }
})

it('redacts the secrets of the configuration if it is ever logged', async () => {
  t.container.logger.info({ config: t.container.config }, 'configuration')
  t.container.logger.info(t.container.config, 'configuration, flat')
  const log = lines.join('')
  expect(log).toContain('root@example.test')
  const keyBody = PRIVATE_KEY_PEM.split('\n')[1] ?? ''
  expect(keyBody.length).toBeGreaterThan(20)
  expect(log).not.toContain(keyBody)
  expect(log).not.toContain(ADMIN_PASSWORD)
})
