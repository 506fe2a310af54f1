/**
 * The embedded shape's balance cache, measured: `coffer start` on PGlite (a fresh DATA_DIR in the
 * temporary directory) with BALANCE_CACHE=memory, then =off, each loaded with GET /wallets/{id}
 * and GET /wallets/{id}/balance of random wallets by autocannon. Decides what BALANCE_CACHE=auto
 * picks on PGlite (docs/performance.md has the figures).
 *
 *   npm run build && npx tsx bench/embedded-cache.ts [--duration 10] [--connections 16] [--wallets 200]
 */
import { randomInt, randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { REPO_ROOT, serveCoffer } from './server.js'

const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results')

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    wallets: { type: 'string', default: '200' },
  },
})
const duration = Number(values.duration)
const connections = Number(values.connections)
const walletCount = Number(values.wallets)
const ADMIN = { email: 'bench-admin@example.test', password: 'bench-admin-password' }

async function json(
  url: string,
  init: RequestInit & { token?: string } = {},
): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (init.token) headers.authorization = `Bearer ${init.token}`
  const response = await fetch(url, {
    ...init,
    headers: { ...headers, ...(init.headers as Record<string, string>) },
  })
  const body = (await response.json()) as Record<string, unknown>
  if (!response.ok)
    throw new Error(`${init.method ?? 'GET'} ${url}: ${response.status} ${JSON.stringify(body)}`)
  return body
}

async function measure(cache: 'memory' | 'off') {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `coffer-bench-embedded-${cache}-`))
  const served = await serveCoffer({
    databaseUrl: '',
    poolSize: 1,
    command: 'start',
    logFile: path.join(RESULTS_DIR, `embedded-cache-${cache}.log`),
    env: {
      DATABASE_URL: '',
      DATA_DIR: dataDir,
      BALANCE_CACHE: cache,
      COFFER_ADMIN_EMAIL: ADMIN.email,
      COFFER_ADMIN_PASSWORD: ADMIN.password,
    },
  })
  try {
    const base = `${served.url}/api/v1`
    const { accessToken } = (await json(`${base}/auth/sign-in`, {
      method: 'POST',
      body: JSON.stringify(ADMIN),
    })) as { accessToken: string }
    const wallets: string[] = []
    for (let i = 0; i < walletCount; i++) {
      const wallet = await json(`${base}/wallets`, {
        method: 'POST',
        token: accessToken,
        body: JSON.stringify({ currency: 'USD', userId: randomUUID() }),
      })
      await json(`${base}/wallets/${wallet.id}/deposits`, {
        method: 'POST',
        token: accessToken,
        headers: { 'idempotency-key': randomUUID() },
        body: JSON.stringify({ amount: '100.00' }),
      })
      wallets.push(wallet.id as string)
    }
    const load = (seconds: number) =>
      autocannon({
        url: served.url,
        connections,
        duration: seconds,
        headers: { authorization: `Bearer ${accessToken}` },
        requests: [
          {
            setupRequest: (request) => ({
              ...request,
              method: 'GET',
              path: `/api/v1/wallets/${wallets[randomInt(wallets.length)]}${randomInt(2) ? '/balance' : ''}`,
            }),
          },
        ],
      })
    await load(2)
    const result = await load(duration)
    return {
      cache,
      okPerSecond: result['2xx'] / result.duration,
      p50: result.latency.p50,
      p99: result.latency.p99,
      non2xx: result.non2xx,
    }
  } finally {
    await served.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}

await mkdir(RESULTS_DIR, { recursive: true })
const memory = await measure('memory')
const off = await measure('off')
for (const row of [memory, off]) {
  process.stdout.write(
    `BALANCE_CACHE=${row.cache.padEnd(6)} ${Math.round(row.okPerSecond)} 2xx/s  p50 ${row.p50} ms  p99 ${row.p99} ms  non-2xx ${row.non2xx}\n`,
  )
}
process.stdout.write(
  `memory / off = x${(memory.okPerSecond / off.okPerSecond).toFixed(2)} (${connections} connections, ${duration} s, ${walletCount} wallets, ${os.availableParallelism()} cores)\n`,
)
