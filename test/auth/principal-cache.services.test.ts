import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { secretHash } from '../../src/auth/secrets.js'
import { createContainer } from '../../src/container.js'
import type { Subscription } from '../../src/events/bus.js'
import { createLogger } from '../../src/logger.js'
import { createTestApp, type TestApp, testConfig } from '../app.js'
import { createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'

const run = promisify(execFile)

/**
 * Two API processes (containers) on one database and one vhost, as two `coffer serve` behind a
 * load balancer, with the relay of A running as the worker's job would. The TTL is 60 s, so a
 * credential refused by B within a few seconds was evicted by the event, not by the TTL.
 */
let a: TestApp
let b: TestApp
let admin: SignedUpUser
let relayTimer: NodeJS.Timeout
const subscriptions: Subscription[] = []

beforeAll(async () => {
  a = await createTestApp({ env: { AUTH_CACHE_TTL_SECONDS: '60' } })
  const config = testConfig({
    AUTH_CACHE_TTL_SECONDS: '60',
    DATABASE_URL: a.database.url!,
    AMQP_URL: a.vhost!.url,
    ...(a.container.config.REDIS_KEY_PREFIX ? { REDIS_KEY_PREFIX: a.container.config.REDIS_KEY_PREFIX } : {}),
  })
  const container = await createContainer(config, createLogger(config))
  const app = await buildApp(container)
  await app.ready()
  b = {
    app,
    container,
    database: a.database,
    close: async () => {
      await app.close()
      await container.close()
    },
  }
  for (const process of [a, b]) {
    const subscription = await process.container.auth.followRevocations(process.container.bus)
    if (subscription) subscriptions.push(subscription)
  }
  // OUTBOX_RELAY_INTERVAL_MS's default, as the worker runs it.
  relayTimer = setInterval(() => void a.container.relay.run(), 100)
  admin = await signUp(a, { roles: ['admin'] })
})
afterAll(async () => {
  clearInterval(relayTimer)
  await Promise.all(subscriptions.map((s) => s.close()))
  await b?.close()
  await a?.close()
})

async function me(process: TestApp, headers: { authorization: string }): Promise<number> {
  return (await process.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers })).statusCode
}

async function cachedIn(process: TestApp, credential: string, headers: { authorization: string }) {
  expect(await me(process, headers)).toBe(200)
  expect([...process.container.auth.principals!.keys()]).toContain(secretHash(credential))
}

/** How long until `process` refuses `headers`, in ms; fails past `boundMs`. */
async function refusedWithin(
  process: TestApp,
  headers: { authorization: string },
  boundMs: number,
): Promise<number> {
  const started = Date.now()
  while ((await me(process, headers)) !== 401) {
    if (Date.now() - started > boundMs) throw new Error(`still accepted after ${boundMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return Date.now() - started
}

describe('revocation across API processes (RabbitMQ)', () => {
  it('has each process consume on an exclusive queue of its own, gone with its connection', async () => {
    const { stdout } = await run('rabbitmqctl', [
      '-q',
      'list_queues',
      '-p',
      a.vhost!.name,
      'name',
      'exclusive',
      'auto_delete',
      'durable',
      '--no-table-headers',
    ])
    const broadcast = stdout
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter(([name]) => name?.startsWith('amq.gen-'))
    expect(broadcast).toHaveLength(2)
    for (const [, exclusive, autoDelete, durable] of broadcast) {
      expect({ exclusive, autoDelete, durable }).toEqual({
        exclusive: 'true',
        autoDelete: 'true',
        durable: 'false',
      })
    }
  })

  it('refuses in B a key revoked through A within the relay latency, far below the 60 s TTL', async () => {
    const key = await createApiKey(a, ['service'])
    await cachedIn(a, key.key, key.headers)
    await cachedIn(b, key.key, key.headers)
    const revoked = await a.app.inject({
      method: 'DELETE',
      url: `/api/v1/api-keys/${key.id}`,
      headers: admin.headers,
    })
    expect(revoked.statusCode, revoked.body).toBe(204)
    expect(await me(a, key.headers)).toBe(401)
    const elapsed = await refusedWithin(b, key.headers, 5_000)
    expect(elapsed).toBeLessThan(5_000)
  })

  it('refuses in B a token signed out through A, within the same bound', async () => {
    const user = await signUp(a)
    await cachedIn(a, user.token, user.headers)
    await cachedIn(b, user.token, user.headers)
    const signedOut = await a.app.inject({
      method: 'POST',
      url: '/api/v1/auth/sign-out',
      headers: user.headers,
    })
    expect(signedOut.statusCode, signedOut.body).toBe(204)
    expect(await me(a, user.headers)).toBe(401)
    expect(await refusedWithin(b, user.headers, 5_000)).toBeLessThan(5_000)
  })
})
