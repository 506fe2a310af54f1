import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { exitGracefullyOnSignals } from '../src/cli/lifecycle.js'
import { loadConfig, shutdownDrainMsOf } from '../src/config.js'
import { cleanUpCliRuns, ONE_RUN_TIMEOUT_MS, scratchDir, startServing } from './cli-process.js'
import { databaseUrlFor, TEST_DATABASE_URL, testShape } from './shape.js'

afterEach(cleanUpCliRuns)

interface Answer {
  status: number
  contentType: string | undefined
  body: string
}

/**
 * One request on a connection of its own (no keep-alive pool), as a load balancer's new
 * connection would be: `refused` once the listener has closed.
 */
function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<Answer | 'refused' | 'reset'> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body)
    const req = http.request(
      url,
      {
        method: options.method ?? 'GET',
        agent: false,
        headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...options.headers },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk
        })
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body: text }),
        )
      },
    )
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolve('refused')
      // Accepted as the listener was closing, then closed by the shutdown's idle sweep.
      else if (error.code === 'ECONNRESET') resolve('reset')
      else reject(error)
    })
    req.end(body)
  })
}

async function answered(url: string, options: Parameters<typeof request>[1] = {}): Promise<Answer> {
  const answer = await request(url, options)
  if (typeof answer === 'string') throw new Error(`${url}: connection ${answer}`)
  return answer
}

/** A user with a USD wallet, through the API: the token and the wallet's URL. */
async function userWithWallet(
  baseUrl: string,
): Promise<{ headers: Record<string, string>; walletUrl: string }> {
  const email = `drain-${randomUUID()}@example.test`
  const password = 'correct horse battery staple'
  const registered = await answered(`${baseUrl}/api/v1/auth/register`, {
    method: 'POST',
    body: { email, password },
  })
  expect(registered.status, registered.body).toBe(201)
  const signedIn = await answered(`${baseUrl}/api/v1/auth/sign-in`, {
    method: 'POST',
    body: { email, password },
  })
  const headers = { authorization: `Bearer ${JSON.parse(signedIn.body).accessToken as string}` }
  const wallet = await answered(`${baseUrl}/api/v1/wallets`, {
    method: 'POST',
    headers,
    body: { currency: 'USD' },
  })
  expect(wallet.status, wallet.body).toBeLessThan(300)
  return { headers, walletUrl: `${baseUrl}/api/v1/wallets/${JSON.parse(wallet.body).id as string}` }
}

/** The settings that put the CLI on the test shape's database: embedded, or an empty PostgreSQL one. */
async function withShapeDatabase(use: (env: Record<string, string>) => Promise<void>): Promise<void> {
  if (testShape() === 'embedded') return use({})
  const name = `coffer_drain_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await admin.connect()
  try {
    await admin.query(`create database ${name}`)
    await use({ DATABASE_URL: databaseUrlFor(name) })
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`)
    await admin.end()
  }
}

const DRAIN_SECONDS = 2

describe('draining on SIGTERM', () => {
  it('answers 503 on /health/ready while still serving, refuses connections after the grace, exits 0', {
    timeout: ONE_RUN_TIMEOUT_MS + 30_000,
  }, async () => {
    await withShapeDatabase(async (env) => {
      const dataDir = await scratchDir()
      const { run, baseUrl } = await startServing(dataDir, {
        env: { ...env, SHUTDOWN_DRAIN_SECONDS: String(DRAIN_SECONDS) },
      })
      const { headers, walletUrl } = await userWithWallet(baseUrl)
      expect((await answered(`${baseUrl}/health/ready`)).status).toBe(200)

      const signalledAt = performance.now()
      run.child.kill('SIGTERM')
      await run.waitForLog((line) => line.msg.startsWith('draining'), 10_000)

      const ready = await answered(`${baseUrl}/health/ready`)
      expect(ready.status).toBe(503)
      expect(ready.contentType).toMatch(/^application\/problem\+json/)
      expect(JSON.parse(ready.body).detail).toMatch(/shutdown \(draining/)
      // The load balancer has not stopped routing yet: requests are served as before.
      const wallet = await answered(walletUrl, { headers })
      expect(wallet.status, wallet.body).toBe(200)
      expect((await answered(`${baseUrl}/health/live`)).status).toBe(200)

      let refusedAt: number | null = null
      while (refusedAt === null && performance.now() - signalledAt < DRAIN_SECONDS * 1000 + 10_000) {
        if ((await request(`${baseUrl}/health/live`)) === 'refused') refusedAt = performance.now()
        else await sleep(50)
      }
      expect(refusedAt, 'the listener closed').not.toBeNull()
      // Not before the grace (a little slack for the timer), and soon after it.
      expect(refusedAt! - signalledAt).toBeGreaterThanOrEqual(DRAIN_SECONDS * 1000 - 50)
      expect(refusedAt! - signalledAt).toBeLessThan(DRAIN_SECONDS * 1000 + 5000)
      expect(await run.exited).toEqual({ code: 0, signal: null })
      expect(run.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['worker stopped', 'stopped']))
    })
  })
})

describe('SHUTDOWN_DRAIN_SECONDS', () => {
  it('defaults to 5 s on PostgreSQL and none on the embedded database; 0 closes at once', () => {
    expect(shutdownDrainMsOf(loadConfig({}))).toBe(0)
    expect(shutdownDrainMsOf(loadConfig({ DATABASE_URL: 'postgres://u@h:5432/d' }))).toBe(5000)
    expect(
      shutdownDrainMsOf(loadConfig({ DATABASE_URL: 'postgres://u@h:5432/d', SHUTDOWN_DRAIN_SECONDS: '0' })),
    ).toBe(0)
    expect(shutdownDrainMsOf(loadConfig({ SHUTDOWN_DRAIN_SECONDS: '3' }))).toBe(3000)
    expect(() => loadConfig({ SHUTDOWN_DRAIN_SECONDS: '301' })).toThrow(/SHUTDOWN_DRAIN_SECONDS/)
  })
})

describe('the shutdown sequence', () => {
  it('drains before any part stops, and counts SHUTDOWN_TIMEOUT_MS from the end of the drain', async () => {
    const signals = new EventEmitter()
    const events: [string, number][] = []
    const exited = new Promise<number>((resolve) => {
      exitGracefullyOnSignals({
        parts: [
          {
            name: 'http',
            stop: async () => {
              events.push(['http stop', performance.now()])
              await sleep(150)
            },
          },
        ],
        // Shorter than the drain: were it counted from the signal, the stop would be cut (exit 1).
        timeoutMs: 250,
        drain: { ms: 300, begin: () => events.push(['drain', performance.now()]) },
        logger: pino({ level: 'silent' }),
        signals,
        exit: resolve,
      })
    })
    const signalledAt = performance.now()
    signals.emit('SIGTERM')
    expect(await exited).toBe(0)
    expect(events.map(([name]) => name)).toEqual(['drain', 'http stop'])
    expect(events[0]![1] - signalledAt).toBeLessThan(50)
    expect(events[1]![1] - signalledAt).toBeGreaterThanOrEqual(295)
  })
})
