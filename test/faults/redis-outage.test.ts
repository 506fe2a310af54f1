import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { withAdmin } from '../database.js'
import { databaseUrlFor } from '../shape.js'
import {
  type Answer,
  call,
  cofferEnv,
  type Ledger,
  Load,
  prepareLedger,
  reportSummary,
  signIn,
  USER_PASSWORD,
} from './support/api.js'
import { checkExactlyOnce } from './support/checks.js'
import {
  type CofferProcess,
  runCli,
  startCoffer,
  type ThrowawayRedis,
  throwawayRedis,
  until,
} from './support/processes.js'

/**
 * Redis stopped (its data gone: no persistence) under reads, writes and sign-in/sign-out, then
 * started again empty. Documented directions (docs/reliability.md): the API keeps serving from the
 * database; rate limits fail open; the access-token denylist fails closed (a signed-out token
 * stays refused); /health/ready stays 200 and /health says degraded.
 */

const OUTAGE_MS = 6000
/** The per-IP limit of sign-in while Redis is up; every request of this test comes from 127.0.0.1. */
const SIGN_INS_PER_MINUTE = 6

const name = `coffer_fault_redis_${randomUUID().replaceAll('-', '').slice(0, 12)}`
const databaseUrl = databaseUrlFor(name)
let redis: ThrowawayRedis | undefined
let coffer: CofferProcess | undefined

beforeAll(async () => {
  redis = await throwawayRedis()
  await redis.start()
  await withAdmin((admin) => admin.query(`create database ${name}`))
  coffer = await startCoffer({
    ...cofferEnv(databaseUrl),
    REDIS_URL: redis.url,
    RATE_LIMIT_AUTH_PER_MINUTE: String(SIGN_INS_PER_MINUTE),
  })
})

afterAll(async () => {
  await coffer?.stop()
  await redis?.stop()
  await withAdmin((admin) => admin.query(`drop database if exists ${name} with (force)`))
})

const me = (baseUrl: string, token: string) => call(baseUrl, 'GET', '/api/v1/auth/me', { token })
const signOut = (baseUrl: string, token: string) => call(baseUrl, 'POST', '/api/v1/auth/sign-out', { token })

async function healthStatus(baseUrl: string): Promise<string> {
  return ((await call(baseUrl, 'GET', '/health')).body as { status: string }).status
}

/** Sign-ins until one is refused with 429, at most `attempts`; the answers. */
async function signInUntilLimited(baseUrl: string, email: string, attempts: number): Promise<Answer[]> {
  const answers: Answer[] = []
  for (let i = 0; i < attempts; i++) {
    const answer = await signIn(baseUrl, email, USER_PASSWORD)
    answers.push(answer)
    if (answer.status === 429) break
  }
  return answers
}

it('keeps serving with Redis down: no 5xx, limits open, a signed-out token still refused', async () => {
  const running = coffer!
  const { baseUrl } = running
  const ledger: Ledger = await prepareLedger(baseUrl, 3)
  const [reader, , session] = ledger.users as [Ledger['users'][0], Ledger['users'][0], Ledger['users'][0]]

  // Before: a token signed out while Redis is up, and the sign-in limit in force.
  const signedOutBefore = session.token
  expect((await signOut(baseUrl, signedOutBefore)).status).toBe(204)
  expect((await me(baseUrl, signedOutBefore)).status).toBe(401)
  const limitedBefore = await signInUntilLimited(baseUrl, session.email, SIGN_INS_PER_MINUTE + 1)
  expect(limitedBefore.at(-1)?.status).toBe(429)

  const load = new Load(
    () => baseUrl,
    ledger,
    { concurrency: 4, pauseMs: 20, maxRequests: 20_000 },
    async () => ({
      what: 'read',
      answer: await call(baseUrl, 'GET', `/api/v1/wallets/${reader.walletId}`, { token: reader.token }),
    }),
  )
  load.start()
  let signedOutDuring: string
  let signInsDuring: Answer[]
  try {
    await sleep(1000)
    await redis!.shutdown()
    const outageStarted = Date.now()
    await until(
      async () => (await healthStatus(baseUrl)) === 'degraded',
      '/health to report degraded',
      10_000,
    )
    expect((await call(baseUrl, 'GET', '/health/ready')).status).toBe(200)

    // Denylist fails closed: signed out before the outage, still refused now.
    expect((await me(baseUrl, signedOutBefore)).status).toBe(401)
    // Rate limits fail open: the limit was reached above, yet sign-in answers.
    signInsDuring = await Promise.all([1, 2, 3].map(() => signIn(baseUrl, session.email, USER_PASSWORD)))
    expect(signInsDuring.map((a) => a.status)).toEqual([200, 200, 200])
    // Signed out during the outage (Redis cannot take the denial; the database does): refused.
    signedOutDuring = (signInsDuring[0]!.body as { accessToken: string }).accessToken
    expect((await me(baseUrl, signedOutDuring)).status).toBe(200)
    expect((await signOut(baseUrl, signedOutDuring)).status).toBe(204)
    expect((await me(baseUrl, signedOutDuring)).status).toBe(401)

    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - outageStarted)))
    await redis!.start()
    await until(async () => (await healthStatus(baseUrl)) === 'up', '/health to report up again', 15_000)
    await sleep(1000)
  } finally {
    await load.stop()
  }

  // After: Redis came back empty; both signed-out tokens stay refused, a live one works, limits apply.
  expect((await me(baseUrl, signedOutBefore)).status).toBe(401)
  expect((await me(baseUrl, signedOutDuring)).status).toBe(401)
  expect((await me(baseUrl, (signInsDuring[1]!.body as { accessToken: string }).accessToken)).status).toBe(
    200,
  )
  const limitedAfter = await signInUntilLimited(baseUrl, session.email, SIGN_INS_PER_MINUTE + 1)
  expect(limitedAfter.at(-1)?.status).toBe(429)

  expect(running.exit, running.output()).toBeNull()
  expect(
    load.failures({ connectionErrorsAllowed: false }).map((f) => `${f.status} ${f.failure ?? ''}`),
  ).toEqual([])
  const fiveHundreds = load.count((a) => a.status >= 500)
  expect(fiveHundreds).toBe(0)
  const report = await checkExactlyOnce(baseUrl, databaseUrl, load.movements)
  expect(report.lost).toEqual([])
  expect(report.duplicated).toEqual([])
  expect(report.acknowledged).toBeGreaterThan(50)
  const verify = await runCli(['verify'], { DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' })
  expect(verify.code, verify.stdout + verify.stderr).toBe(0)

  await reportSummary(
    `redis-outage: requests=${load.sent} faults=1 (redis shutdown nosave for ${OUTAGE_MS / 1000} s, restarted empty) ` +
      `5xx=${fiveHundreds} acknowledged=${report.acknowledged} acknowledged-lost=${report.lost.length} ` +
      `signed-out tokens accepted=0 sign-ins past the limit during the outage=${signInsDuring.length} (fail open)`,
  )
})
