import { randomUUID } from 'node:crypto'
import { type AddressInfo, createServer } from 'node:net'
import { Redis } from 'ioredis'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DatabaseDenylist, RedisDenylist } from '../../src/auth/denylist.js'
import { workerJobs } from '../../src/worker/jobs.js'
import { createTestApp, type TestApp } from '../app.js'
import { signUp } from '../auth-fixtures.js'
import { TEST_REDIS_URL, testShape } from '../shape.js'

let t: TestApp

beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

const inOneMinute = () => new Date(Date.now() + 60_000)
const aMinuteAgo = () => new Date(Date.now() - 60_000)

describe('the database denylist', () => {
  it('denies until purged, and the purge drops only expired entries', async () => {
    const denylist = new DatabaseDenylist(t.database.db)
    const live = randomUUID()
    const expired = randomUUID()
    await denylist.deny([
      { jti: live, expiresAt: inOneMinute() },
      { jti: expired, expiresAt: aMinuteAgo() },
    ])
    expect(await denylist.isDenied(live)).toBe(true)
    expect(await denylist.isDenied(expired)).toBe(true)
    expect(await denylist.isDenied(randomUUID())).toBe(false)

    expect(await denylist.purgeExpired(new Date())).toBeGreaterThanOrEqual(1)
    expect(await denylist.isDenied(live)).toBe(true)
    expect(await denylist.isDenied(expired)).toBe(false)
  })
})

// Redis exists only in the services shape (npm run test:services), where these run; the embedded
// shape has no Redis to test, so they are not registered there at all.
const describeWithRedis = testShape() === 'services' ? describe : () => undefined
describeWithRedis('the Redis denylist', () => {
  /** A Redis client of this test alone, so emptying "its" Redis touches no one else's keys. */
  async function ownRedis(): Promise<Redis> {
    const redis = new Redis(TEST_REDIS_URL, { keyPrefix: `coffer-test:denylist:${randomUUID()}:` })
    opened.push(redis)
    await redis.ping()
    return redis
  }
  const opened: Redis[] = []
  afterAll(async () => {
    for (const redis of opened) await redis.quit()
  })

  it('keeps each entry exactly until its token expires, under the deployment prefix', async () => {
    const redis = t.container.redis
    if (!redis) throw new Error('the services shape sets REDIS_URL')
    const denylist = new RedisDenylist(redis, t.database.db)
    const live = randomUUID()
    await denylist.deny([
      { jti: live, expiresAt: inOneMinute() },
      { jti: randomUUID(), expiresAt: aMinuteAgo() },
    ])
    expect(await denylist.isDenied(live)).toBe(true)
    const ttl = await redis.pttl(`denied-jti:${live}`)
    expect(ttl).toBeGreaterThan(50_000)
    expect(ttl).toBeLessThanOrEqual(60_000)
    expect(redis.options.keyPrefix).toMatch(/^coffer-test:/)
  })

  it('is where sign-out puts the access token, and the database too, so a Redis outage loses no denial', async () => {
    const user = await signUp(t)
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/sign-out', headers: user.headers })
    const jti = decodeJwt(user.token).jti as string
    expect(await t.container.redis?.exists(`denied-jti:${jti}`)).toBe(1)
    const rows = await t.database.db
      .selectFrom('revoked_tokens')
      .select('jti')
      .where('jti', '=', jti)
      .execute()
    expect(rows).toEqual([{ jti }])
  })

  it('does not trust a Redis that lost its data: it asks the database, then copies the denials back', async () => {
    const redis = await ownRedis()
    const denylist = new RedisDenylist(redis, t.database.db)
    const jti = randomUUID()
    await denylist.deny([{ jti, expiresAt: inOneMinute() }])
    await denylist.resync()
    expect(await redis.get('denylist-synced')).not.toBeNull()

    // What a Redis restarted without persistence looks like: every key gone, the marker too.
    await redis.del('denylist-synced', `denied-jti:${jti}`)
    expect(await denylist.isDenied(jti)).toBe(true)
    await denylist.resync()
    expect(await redis.exists(`denied-jti:${jti}`, 'denylist-synced')).toBe(2)
    expect(await denylist.isDenied(jti)).toBe(true)
    expect(await denylist.isDenied(randomUUID())).toBe(false)
  })
})

// An unreachable Redis needs no Redis server, so this runs in both shapes.
describe('the Redis denylist with Redis unreachable', () => {
  it('still denies: the denial is in the database, and lookups fall back to it (fails closed)', async () => {
    const redis = new Redis(await unusedPortUrl(), {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      commandTimeout: 200,
      retryStrategy: () => null,
    })
    redis.on('error', () => undefined)
    try {
      const denylist = new RedisDenylist(redis, t.database.db)
      const jti = randomUUID()
      await denylist.deny([{ jti, expiresAt: inOneMinute() }])
      expect(await denylist.isDenied(jti)).toBe(true)
      expect(await denylist.isDenied(randomUUID())).toBe(false)
      const rows = await t.database.db
        .selectFrom('revoked_tokens')
        .select('jti')
        .where('jti', '=', jti)
        .execute()
      expect(rows).toEqual([{ jti }])
    } finally {
      redis.disconnect()
    }
  })
})

/** A redis:// URL on a port nothing listens on (bound, then released). */
async function unusedPortUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `redis://127.0.0.1:${port}`
}

describe('the purge-expired-credentials worker job', () => {
  it('removes refresh tokens past their expiry and keeps live ones', async () => {
    const job = workerJobs(t.container).find((candidate) => candidate.name === 'purge-expired-credentials')
    expect(job).toBeDefined()
    const expiring = await signUp(t)
    const staying = await signUp(t)
    const sessionsOf = (userId: string) =>
      t.database.db.selectFrom('sessions').select('id').where('user_id', '=', userId)
    await t.database.db
      .updateTable('refresh_tokens')
      .set({ expires_at: aMinuteAgo() })
      .where('session_id', 'in', sessionsOf(expiring.userId))
      .execute()
    const expiredDenial = randomUUID()
    await new DatabaseDenylist(t.database.db).deny([{ jti: expiredDenial, expiresAt: aMinuteAgo() }])

    await job?.run()

    const remaining = (userId: string) =>
      t.database.db
        .selectFrom('refresh_tokens')
        .select('id')
        .where('session_id', 'in', sessionsOf(userId))
        .execute()
    expect(await remaining(expiring.userId)).toEqual([])
    expect(await remaining(staying.userId)).toHaveLength(1)
    const denial = await t.database.db
      .selectFrom('revoked_tokens')
      .select('jti')
      .where('jti', '=', expiredDenial)
      .execute()
    // With Redis as the denylist the table is not the job's to purge, but nothing expired stays anyway.
    if (!t.container.redis) expect(denial).toEqual([])
  })
})
