import { type AddressInfo, createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from './app.js'
import { randomClientIp, signUp, TEST_PASSWORD } from './auth-fixtures.js'

/** A redis:// URL on a port nothing listens on (bound, then released). */
async function unreachableRedisUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `redis://127.0.0.1:${port}`
}

// A Redis that cannot be reached needs no Redis server, so this runs in both shapes; the fault
// suite (test/faults/redis-outage.test.ts) stops and starts a real one under load.
describe('with Redis unreachable', () => {
  let t: TestApp

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        REDIS_URL: await unreachableRedisUrl(),
        REDIS_COMMAND_TIMEOUT_MS: '200',
        RATE_LIMIT_AUTH_PER_MINUTE: '1',
      },
    })
  })
  afterAll(() => t.close())

  it('stays ready: /health/ready is 200 and /health says degraded, naming the cache', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200)
    const health = await t.app.inject({ method: 'GET', url: '/health' })
    expect(health.statusCode).toBe(200)
    const report = health.json<{ status: string; dependencies: { name: string }[] }>()
    expect(report.status).toBe('degraded')
    expect(report.dependencies.find((d) => d.name === 'cache')).toMatchObject({
      status: 'down',
      required: false,
    })
  })

  it('lets sign-ins through past the limit (rate limits fail open)', async () => {
    const user = await signUp(t)
    const remoteAddress = randomClientIp()
    const signIn = () =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/sign-in',
        remoteAddress,
        payload: { email: user.email, password: TEST_PASSWORD },
      })
    const answers = [await signIn(), await signIn(), await signIn()]
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200])
  })

  it('still refuses a signed-out token (the denylist fails closed, on the database)', async () => {
    const user = await signUp(t)
    const me = () => t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: user.headers })
    expect((await me()).statusCode).toBe(200)
    const signOut = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/sign-out',
      headers: user.headers,
    })
    expect(signOut.statusCode).toBe(204)
    expect((await me()).statusCode).toBe(401)
  })
})
