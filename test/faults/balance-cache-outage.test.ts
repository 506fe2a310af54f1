import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { withAdmin } from '../database.js'
import { databaseUrlFor } from '../shape.js'
import { call, cofferEnv, type Ledger, prepareLedger, reportSummary } from './support/api.js'
import {
  type CofferProcess,
  command,
  startCoffer,
  type ThrowawayRedis,
  throwawayRedis,
  until,
} from './support/processes.js'

/**
 * The balance cache with its Redis slow (writes paused past BALANCE_CACHE_TIMEOUT_MS) and then
 * down and back with its data (saved on shutdown, so it returns holding balances older than the
 * database's). Every read must show the balance of every write acknowledged before it, during
 * and after: the suspect list and its repair are what keep the stale entries from being served.
 */

const PREFIX = `coffer-fault-cache-${randomUUID().slice(0, 8)}:`
const name = `coffer_fault_cache_${randomUUID().replaceAll('-', '').slice(0, 12)}`
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
    REDIS_KEY_PREFIX: PREFIX,
    BALANCE_CACHE: 'redis',
  })
})

afterAll(async () => {
  await coffer?.stop()
  await redis?.stop()
  await withAdmin((admin) => admin.query(`drop database if exists ${name} with (force)`))
})

function redisCli(...args: string[]): Promise<string> {
  return command('redis-cli', ['-p', String(redis!.port), ...args])
}

async function cachedVersion(walletId: string): Promise<string> {
  return (await redisCli('hget', `${PREFIX}wallet:${walletId}`, 'v')).trim()
}

it('serves the balance of every acknowledged write while Redis is slow, down, and back with old data', async () => {
  const { baseUrl } = coffer!
  const ledger: Ledger = await prepareLedger(baseUrl, 2)
  const [payer, payee] = ledger.users as [Ledger['users'][0], Ledger['users'][0]]
  // Cents each wallet holds after every write the test made, all sequential: the exact answer.
  const expected = new Map([
    [payer.walletId, 10_000],
    [payee.walletId, 10_000],
  ])
  const latencies: number[] = []
  let reads = 0
  let writes = 0

  const expectCurrent = async (what: string) => {
    for (const user of [payer, payee]) {
      for (const path of [`/api/v1/wallets/${user.walletId}`, `/api/v1/wallets/${user.walletId}/balance`]) {
        const started = performance.now()
        const answer = await call(baseUrl, 'GET', path, { token: user.token })
        latencies.push(performance.now() - started)
        reads += 1
        expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(200)
        const cents = expected.get(user.walletId)!
        expect((answer.body as { balance: string }).balance, `${what}: ${path}`).toBe(
          (cents / 100).toFixed(2),
        )
      }
    }
  }
  const move = async () => {
    const deposit = writes % 2 === 0
    const answer = deposit
      ? await call(baseUrl, 'POST', `/api/v1/wallets/${payer.walletId}/deposits`, {
          token: ledger.serviceKey,
          key: randomUUID(),
          body: { amount: '1.00' },
        })
      : await call(baseUrl, 'POST', '/api/v1/transfers', {
          token: payer.token,
          key: randomUUID(),
          body: { fromWalletId: payer.walletId, toWalletId: payee.walletId, amount: '0.50' },
        })
    expect(answer.status, JSON.stringify(answer.body)).toBe(201)
    writes += 1
    if (deposit) expected.set(payer.walletId, expected.get(payer.walletId)! + 100)
    else {
      expected.set(payer.walletId, expected.get(payer.walletId)! - 50)
      expected.set(payee.walletId, expected.get(payee.walletId)! + 50)
    }
  }
  const rounds = async (what: string, count: number) => {
    for (let i = 0; i < count; i++) {
      await move()
      await expectCurrent(what)
    }
  }

  await rounds('redis up', 5)
  expect(await cachedVersion(payer.walletId)).not.toBe('')

  // Slow: every write command waits in Redis past the cache's timeout; reads of the cache still answer.
  await redisCli('client', 'pause', '3000', 'WRITE')
  const pausedUntil = Date.now() + 3000
  await rounds('redis writes paused', 5)
  expect(Date.now()).toBeLessThan(pausedUntil)
  await sleep(Math.max(0, pausedUntil - Date.now()) + 200)
  await rounds('after the pause', 3)

  // Down, holding what it had: the saved entries are older than the writes made meanwhile.
  const staleVersion = await cachedVersion(payer.walletId)
  await redisCli('shutdown', 'save')
  await until(
    async () => (await redisCli('ping').catch(() => 'down')).trim() !== 'PONG',
    'redis to stop',
    10_000,
  )
  await rounds('redis down', 6)
  await redis!.start()
  // From the first moment Redis answers again, before and after the repair has deleted the entries.
  const restarted = Date.now()
  while (Date.now() - restarted < 3000) await expectCurrent('redis back with old data')
  await rounds('redis back', 5)
  await until(
    async () => {
      const version = await cachedVersion(payer.walletId)
      return version !== staleVersion
    },
    'the stale entry to be repaired or replaced',
    10_000,
  )

  expect(coffer!.exit, coffer!.output()).toBeNull()
  latencies.sort((a, b) => a - b)
  const p99 = latencies[Math.floor(latencies.length * 0.99)]!
  await reportSummary(
    `balance-cache-outage: reads=${reads} writes=${writes} stale reads=0 5xx=0 ` +
      `(redis writes paused 3 s, then shutdown save, restarted holding older entries) ` +
      `read latency p99=${p99.toFixed(1)} ms max=${latencies.at(-1)!.toFixed(1)} ms`,
  )
})
