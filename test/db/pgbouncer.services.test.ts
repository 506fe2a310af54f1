import { type ChildProcess, spawn } from 'node:child_process'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { type Container, createContainer } from '../../src/container.js'
import type { App } from '../../src/http/app-type.js'
import { createLogger } from '../../src/logger.js'
import { startStatements } from '../../src/worker/statements.js'
import { type TestApp, testConfig } from '../app.js'
import { createApiKey } from '../auth-fixtures.js'
import { createTestDatabase, type TestDatabase } from '../database.js'
import { freePort } from '../faults/support/processes.js'
import { expectLedgerConsistent, idempotencyKey } from '../ledger.js'
import { eventually, fund, openWallet, postMoney, walletBalance } from '../wallets/fixtures.js'

/**
 * Coffer through PgBouncer in transaction pooling mode (Debian's 1.18, which does not track
 * prepared statements), with DATABASE_PREPARED_STATEMENTS=false: every server connection is
 * shared between transactions of many clients, so nothing may rely on a session. Group commit's
 * key claims (transaction-scoped advisory locks), atomic batches, statement jobs (SKIP LOCKED
 * leases) and the relay all run through it.
 */
let database: TestDatabase
let bouncer: ChildProcess
let dir: string
let container: Container
let app: App
let t: TestApp

beforeAll(async () => {
  database = await createTestDatabase()
  const port = await freePort()
  dir = await mkdtemp(join(tmpdir(), 'coffer-pgbouncer-'))
  await chmod(dir, 0o777)
  const upstream = new URL(database.url!)
  const name = upstream.pathname.slice(1)
  const config = [
    '[databases]',
    `${name} = host=${upstream.hostname} port=${upstream.port || 5432} dbname=${name}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'auth_type = trust',
    `auth_file = ${join(dir, 'users.txt')}`,
    'pool_mode = transaction',
    // Fewer server connections than Coffer's pool: transactions of different clients share them.
    'default_pool_size = 4',
    'max_client_conn = 200',
    `unix_socket_dir = ${dir}`,
    `pidfile = ${join(dir, 'pgbouncer.pid')}`,
  ].join('\n')
  await writeFile(join(dir, 'pgbouncer.ini'), `${config}\n`, { mode: 0o644 })
  await writeFile(join(dir, 'users.txt'), `"${decodeURIComponent(upstream.username || 'postgres')}" ""\n`, {
    mode: 0o644,
  })
  // PgBouncer refuses to run as root: as the postgres user when we are root (CI), as us otherwise.
  const asUser = process.getuid?.() === 0 ? ['-u', 'postgres'] : []
  bouncer = spawn('pgbouncer', [...asUser, join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  bouncer.stdout?.on('data', (chunk) => (output += String(chunk)))
  bouncer.stderr?.on('data', (chunk) => (output += String(chunk)))
  const through = new URL(database.url!)
  through.port = String(port)
  const settings = testConfig({
    DATABASE_URL: through.toString(),
    DATABASE_PREPARED_STATEMENTS: 'false',
    DATABASE_POOL_SIZE: '16',
    DB_CONNECT_RETRIES: '20',
    DB_CONNECT_RETRY_DELAY_MS: '100',
  })
  container = await createContainer(settings, createLogger(settings)).catch((error: unknown) => {
    throw new Error(`Coffer could not start through PgBouncer: ${String(error)}\n${output}`)
  })
  app = await buildApp(container)
  await app.ready()
  t = { app, container, database, close: async () => undefined }
})
afterAll(async () => {
  await app?.close()
  await container?.close()
  bouncer?.kill('SIGTERM')
  await database?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('behind PgBouncer in transaction pooling mode', () => {
  it('moves money, replays keys, posts batches and makes statements with every connection shared', async () => {
    const service = await createApiKey(t, ['service'])
    const wallets = await Promise.all(
      Array.from({ length: 8 }, () => openWallet(t, service.headers, 'USD', crypto.randomUUID())),
    )
    for (const wallet of wallets) await fund(t, service.headers, wallet.id, '100.00')
    // Concurrent transfers: group commit batches them, claiming keys with transaction-scoped locks.
    const transfers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        postMoney(t, service.headers, '/api/v1/transfers', {
          fromWalletId: wallets[i % 8]!.id,
          toWalletId: wallets[(i + 3) % 8]!.id,
          amount: '0.50',
        }),
      ),
    )
    expect(transfers.map((r) => r.statusCode)).toEqual(transfers.map(() => 201))
    const key = idempotencyKey('bouncer')
    const body = { fromWalletId: wallets[0]!.id, toWalletId: wallets[1]!.id, amount: '1.00' }
    const first = await postMoney(t, service.headers, '/api/v1/transfers', body, key)
    const again = await postMoney(t, service.headers, '/api/v1/transfers', body, key)
    expect(again.headers['idempotency-replayed']).toBe('true')
    expect(again.body).toBe(first.body)

    const batch = await app.inject({
      method: 'POST',
      url: '/api/v1/batches',
      headers: service.headers,
      payload: {
        atomic: true,
        items: wallets.map((w, i) => ({
          type: 'transfer',
          idempotencyKey: idempotencyKey('bb'),
          fromWalletId: w.id,
          toWalletId: wallets[(i + 1) % 8]!.id,
          amount: '2.00',
        })),
      },
    })
    expect(batch.statusCode, batch.body).toBe(200)

    const runner = startStatements(container, { pollMs: 20 })
    try {
      const asked = await app.inject({
        method: 'GET',
        url: `/api/v1/wallets/${wallets[0]!.id}/statement?from=2026-01-01T00:00:00Z&to=${new Date(Date.now() + 86_400_000).toISOString()}&format=csv`,
        headers: service.headers,
      })
      expect(asked.statusCode, asked.body).toBe(202)
      const jobId = asked.json<{ id: string }>().id
      await eventually(async () => {
        const job = await app.inject({
          method: 'GET',
          url: `/api/v1/statements/${jobId}`,
          headers: service.headers,
        })
        return job.json<{ status: string }>().status === 'done'
      }, 'the statement job')
    } finally {
      await runner.close()
    }
    // The relay's batches through the pooler too.
    await container.relay.run()

    const total = (await Promise.all(wallets.map((w) => walletBalance(t, service.headers, w.id)))).reduce(
      (sum, b) => sum + Number(b),
      0,
    )
    expect(total).toBe(800)
    await expectLedgerConsistent(database.db)
  })
})
