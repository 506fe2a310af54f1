import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.js'
import type { Subscription } from '../../src/events/bus.js'
import { outboxStats } from '../../src/events/relay.js'
import { startMetricsListener } from '../../src/http/metrics-listener.js'
import type { StatementJobView } from '../../src/statements/statements.schemas.js'
import type { WalletView } from '../../src/wallets/wallets.schemas.js'
import { startCommandConsumer } from '../../src/worker/commands.js'
import { workerJobs } from '../../src/worker/jobs.js'
import { createWorker } from '../../src/worker/worker.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { cleanUpCliRuns, scratchDir, startServing } from '../cli-process.js'
import { idempotencyKey } from '../ledger.js'
import { deposit, eventually, fund, openWallet, transfer } from '../wallets/fixtures.js'

/**
 * Prometheus metrics (issue 16, item 1): after real traffic, GET /metrics answers a service key
 * with every family the issue names, with values that follow from the traffic; promtool accepts
 * the exposition; only admins and services may read it; METRICS_PORT serves it without auth.
 */

const DEPOSITS = 3
const DAY = 86_400_000

/** One series of the exposition: name, labels and value. */
interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match) throw new Error(`not an exposition line: ${line}`)
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  return samples
}

/** The sum of the series of `name` whose labels include `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0)
}

function families(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!))
}

/** `promtool check metrics` on the exposition: its exit code and whatever it printed. */
function promtool(exposition: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, output }))
    child.stdin.end(exposition)
  })
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

let t: TestApp
let service: CreatedApiKey
let alice: SignedUpUser
let bob: SignedUpUser
let wallet: WalletView
let bobWallet: WalletView
let consumer: Subscription
let exposition: string
let samples: Sample[]

beforeAll(async () => {
  t = await createTestApp({ env: { COMMAND_SENDERS: 'metrics-probe', COMMAND_MAX_ATTEMPTS: '2' } })
  consumer = await startCommandConsumer(t.container)
  service = await createApiKey(t, ['service'])
  ;[alice, bob] = await Promise.all([signUp(t), signUp(t)])
  wallet = await openWallet(t, alice.headers, 'USD')
  bobWallet = await openWallet(t, bob.headers, 'USD')

  for (let i = 0; i < DEPOSITS; i += 1) await fund(t, service.headers, wallet.id, '10.00')
  // A refusal: more than the wallet holds.
  const refused = await transfer(t, alice.headers, {
    fromWalletId: wallet.id,
    toWalletId: bobWallet.id,
    amount: '1000.00',
  })
  expect(refused.statusCode, refused.body).toBe(422)
  // A replay, then the same key with another body (422 idempotency_key_reused).
  const key = idempotencyKey('metrics')
  expect((await deposit(t, service.headers, wallet.id, '1.00', key)).statusCode).toBe(201)
  const replayed = await deposit(t, service.headers, wallet.id, '1.00', key)
  expect(replayed.headers['idempotency-replayed']).toBe('true')
  expect((await deposit(t, service.headers, wallet.id, '2.00', key)).statusCode).toBe(422)
  // Reads, and a URL no route matches.
  expect(
    (await t.app.inject({ method: 'GET', url: `/api/v1/wallets/${wallet.id}`, headers: alice.headers }))
      .statusCode,
  ).toBe(200)
  expect(
    (await t.app.inject({ method: 'GET', url: `/api/v1/no-such-thing/${randomUUID()}` })).statusCode,
  ).toBe(404)

  // A statement long enough to be a job, generated by this process.
  const statement = await t.app.inject({
    method: 'GET',
    url: `/api/v1/wallets/${wallet.id}/statement`,
    headers: alice.headers,
    query: {
      from: new Date(Date.now() - 40 * DAY).toISOString(),
      to: new Date(Date.now() + DAY).toISOString(),
      format: 'csv',
    },
  })
  expect(statement.statusCode, statement.body).toBe(202)
  const job = statement.json<StatementJobView>()
  expect(await t.container.statements.runNextJob('metrics-test')).toBe(true)
  const done = await t.app.inject({
    method: 'GET',
    url: `/api/v1/statements/${job.id}`,
    headers: alice.headers,
  })
  expect(done.json<StatementJobView>().status).toBe('done')

  // Commands: one applied (POST /operations), one from a sender nobody allowed (a dead letter).
  const operation = await t.app.inject({
    method: 'POST',
    url: '/api/v1/operations',
    headers: { ...service.headers, 'idempotency-key': idempotencyKey('op') },
    payload: { type: 'deposit', walletId: wallet.id, amount: '3.00' },
  })
  expect(operation.statusCode, operation.body).toBe(202)
  await t.container.bus.sendCommand(
    'deposit.requested',
    { operationId: randomUUID(), walletId: wallet.id, amount: '1.00' },
    { sender: 'stranger' },
  )
  await eventually(async () => {
    const opId = operation.json<{ id: string }>().id
    const view = await t.app.inject({
      method: 'GET',
      url: `/api/v1/operations/${opId}`,
      headers: service.headers,
    })
    return view.json<{ status: string }>().status === 'succeeded'
  }, 'the operation to succeed')

  // Points that mature within the test, for the settle-points job.
  const earned = await t.app.inject({
    method: 'POST',
    url: '/api/v1/points/earn',
    headers: { ...service.headers, 'idempotency-key': idempotencyKey('earn') },
    payload: {
      userId: alice.userId,
      points: '5',
      source: 'metrics-test',
      pendingUntil: new Date(Date.now() + 300).toISOString(),
    },
  })
  expect(earned.statusCode, earned.body).toBe(201)
  await new Promise((resolve) => setTimeout(resolve, 400))

  // The worker's real jobs, for a moment: the relay publishes, settle-points matures the lot.
  const jobs = workerJobs(t.container).filter((j) => ['relay-outbox', 'settle-points'].includes(j.name))
  const worker = createWorker(
    [...jobs, { name: 'failing-probe', intervalMs: 50, run: () => Promise.reject(new Error('probe')) }],
    t.container.logger,
  )
  worker.start()
  await eventually(async () => {
    const text = (await t.app.inject({ method: 'GET', url: '/metrics', headers: service.headers })).body
    const now = parseExposition(text)
    return (
      total(now, 'coffer_points_lots_settled_total', { change: 'matured' }) >= 1 &&
      total(now, 'coffer_worker_job_runs_total', { job: 'failing-probe', outcome: 'failed' }) >= 1 &&
      total(now, 'coffer_commands_dead_lettered_total') >= 1
    )
  }, 'the worker jobs and the dead letter to be counted')
  await worker.stop()

  const scrape = await t.app.inject({ method: 'GET', url: '/metrics', headers: service.headers })
  expect(scrape.statusCode, scrape.body).toBe(200)
  expect(scrape.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
  exposition = scrape.body
  samples = parseExposition(exposition)
})
afterAll(async () => {
  await consumer?.close()
  await t?.close()
})

describe('GET /metrics after traffic', () => {
  it('has every family the issue names', () => {
    const names = families(exposition)
    for (const family of [
      'coffer_http_request_duration_seconds',
      'coffer_postings_total',
      'coffer_group_commit_batch_size',
      'coffer_idempotency_replays_total',
      'coffer_idempotency_conflicts_total',
      'coffer_outbox_backlog_events',
      'coffer_outbox_lag_seconds',
      'coffer_outbox_published_total',
      'coffer_commands_consumed_total',
      'coffer_commands_retried_total',
      'coffer_commands_dead_lettered_total',
      'coffer_statement_jobs_started_total',
      'coffer_statement_jobs_finished_total',
      'coffer_statement_job_duration_seconds',
      'coffer_points_lots_settled_total',
      'coffer_points_accounts_settled_total',
      'coffer_db_pool_connections',
      'coffer_db_pool_waiting_requests',
      'coffer_db_pool_max_connections',
      'coffer_worker_job_runs_total',
      'coffer_worker_job_duration_seconds',
      // prom-client's defaults, the event-loop lag among them.
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(names, family).toContain(family)
    }
  })

  it('counts the postings by type and outcome, refusals with their code', () => {
    // The deposits, the first of the idempotent pair, and the operation's.
    expect(
      total(samples, 'coffer_postings_total', { type: 'deposit', outcome: 'posted' }),
    ).toBeGreaterThanOrEqual(DEPOSITS + 2)
    expect(
      total(samples, 'coffer_postings_total', {
        type: 'transfer',
        outcome: 'refused',
        code: 'insufficient_funds',
      }),
    ).toBeGreaterThanOrEqual(1)
    const batches = total(samples, 'coffer_group_commit_batch_size_count')
    expect(batches).toBeGreaterThanOrEqual(1)
    expect(total(samples, 'coffer_group_commit_batch_size_sum')).toBeGreaterThanOrEqual(batches)
  })

  it('counts idempotent replays and conflicts', () => {
    expect(total(samples, 'coffer_idempotency_replays_total')).toBeGreaterThanOrEqual(1)
    expect(total(samples, 'coffer_idempotency_conflicts_total', { reason: 'reused' })).toBeGreaterThanOrEqual(
      1,
    )
    expect(
      samples.some((s) => s.name === 'coffer_idempotency_conflicts_total' && s.labels.reason === 'in_flight'),
    ).toBe(true)
  })

  it('labels requests with the route template and status, never an id', () => {
    const requests = samples.filter((s) => s.name === 'coffer_http_request_duration_seconds_count')
    const walletReads = total(samples, 'coffer_http_request_duration_seconds_count', {
      method: 'GET',
      route: '/api/v1/wallets/:id',
      status_code: '200',
    })
    expect(walletReads).toBeGreaterThanOrEqual(1)
    expect(
      total(samples, 'coffer_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/api/v1/wallets/:id/deposits',
        status_code: '201',
      }),
    ).toBeGreaterThanOrEqual(DEPOSITS)
    expect(
      total(samples, 'coffer_http_request_duration_seconds_count', {
        route: 'unmatched',
        status_code: '404',
      }),
    ).toBeGreaterThanOrEqual(1)
    const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i
    expect(exposition).not.toMatch(uuid)
    expect(exposition).not.toContain(wallet.id)
    for (const series of requests) expect(series.labels.route).not.toMatch(/\d{3,}/)
  })

  it('shows the outbox, the relay and the database pool', () => {
    // Read from the database at scrape: figures, not absent.
    expect(total(samples, 'coffer_outbox_backlog_events')).toBeGreaterThanOrEqual(0)
    expect(total(samples, 'coffer_outbox_lag_seconds')).toBeGreaterThanOrEqual(0)
    expect(total(samples, 'coffer_outbox_published_total')).toBeGreaterThanOrEqual(DEPOSITS)
    expect(total(samples, 'coffer_db_pool_max_connections', { pool: 'primary' })).toBeGreaterThanOrEqual(1)
    expect(
      total(samples, 'coffer_db_pool_connections', { pool: 'primary', state: 'idle' }),
    ).toBeGreaterThanOrEqual(0)
    expect(total(samples, 'coffer_db_pool_waiting_requests', { pool: 'primary' })).toBeGreaterThanOrEqual(0)
    const open = total(samples, 'coffer_db_pool_connections', { pool: 'primary' })
    expect(open).toBeGreaterThanOrEqual(1)
    expect(open).toBeLessThanOrEqual(total(samples, 'coffer_db_pool_max_connections', { pool: 'primary' }))
  })

  it('counts commands, statement jobs, points settlement and worker jobs', () => {
    expect(
      total(samples, 'coffer_commands_consumed_total', { type: 'deposit.requested', outcome: 'done' }),
    ).toBeGreaterThanOrEqual(1)
    expect(
      total(samples, 'coffer_commands_dead_lettered_total', {
        type: 'deposit.requested',
        reason: 'unknown_sender',
      }),
    ).toBeGreaterThanOrEqual(1)
    expect(total(samples, 'coffer_statement_jobs_started_total')).toBeGreaterThanOrEqual(1)
    expect(
      total(samples, 'coffer_statement_jobs_finished_total', { outcome: 'done' }),
    ).toBeGreaterThanOrEqual(1)
    expect(
      total(samples, 'coffer_statement_job_duration_seconds_count', { format: 'csv', outcome: 'done' }),
    ).toBe(total(samples, 'coffer_statement_jobs_finished_total', { outcome: 'done' }))
    expect(total(samples, 'coffer_points_lots_settled_total', { change: 'matured' })).toBeGreaterThanOrEqual(
      1,
    )
    expect(total(samples, 'coffer_points_accounts_settled_total')).toBeGreaterThanOrEqual(1)
    expect(
      total(samples, 'coffer_worker_job_runs_total', { job: 'relay-outbox', outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(1)
    expect(
      total(samples, 'coffer_worker_job_runs_total', { job: 'failing-probe', outcome: 'failed' }),
    ).toBeGreaterThanOrEqual(1)
    expect(
      total(samples, 'coffer_worker_job_duration_seconds_count', { job: 'settle-points' }),
    ).toBeGreaterThanOrEqual(1)
  })

  it('passes promtool check metrics with no lint problem', async () => {
    const checked = await promtool(exposition)
    expect(checked.output.trim()).toBe('')
    expect(checked.code).toBe(0)
  })
})

describe('who may read /metrics', () => {
  it('answers an admin and a service, 403 to a user and 401 without a token', async () => {
    const admin = await signUp(t, { roles: ['admin'] })
    expect((await t.app.inject({ method: 'GET', url: '/metrics', headers: admin.headers })).statusCode).toBe(
      200,
    )
    const user = await t.app.inject({ method: 'GET', url: '/metrics', headers: alice.headers })
    expect(user.statusCode).toBe(403)
    expect(user.headers['content-type']).toMatch(/problem\+json/)
    expect((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401)
  })
})

describe('METRICS_PORT', () => {
  afterEach(() => cleanUpCliRuns())

  it('is unset by default, and must be a port other than PORT', () => {
    expect(loadConfig({}).METRICS_PORT).toBeUndefined()
    expect(loadConfig({ METRICS_PORT: '9464' }).METRICS_PORT).toBe(9464)
    expect(() => loadConfig({ METRICS_PORT: '3000' })).toThrow(ConfigError)
    expect(() => loadConfig({ METRICS_PORT: '9464', PORT: '9464' })).toThrow(
      /METRICS_PORT: must differ from PORT/,
    )
    expect(() => loadConfig({ METRICS_PORT: '70000' })).toThrow(/METRICS_PORT/)
  })

  it('serves the same metrics without auth on a listener of its own, and nothing else', async () => {
    const listener = await startMetricsListener({
      port: 0,
      host: '127.0.0.1',
      logger: t.container.logger,
      outbox: () => outboxStats(t.container.database.db),
    })
    try {
      const response = await fetch(`http://127.0.0.1:${listener.port}/metrics`)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
      const text = await response.text()
      expect(
        total(parseExposition(text), 'coffer_postings_total', { type: 'deposit', outcome: 'posted' }),
      ).toBeGreaterThanOrEqual(DEPOSITS)
      expect((await fetch(`http://127.0.0.1:${listener.port}/`)).status).toBe(404)
      expect((await fetch(`http://127.0.0.1:${listener.port}/api/v1/wallets`)).status).toBe(404)
    } finally {
      await listener.close()
    }
  })

  it('makes `coffer start` listen there too, while /metrics on PORT still wants a key', async () => {
    const metricsPort = await freePort()
    const { run, baseUrl } = await startServing(await scratchDir('coffer-metrics-'), {
      env: { METRICS_PORT: String(metricsPort), LOG_LEVEL: 'info' },
    })
    await run.waitForLog((line) => line.msg === 'metrics listening (METRICS_PORT)')
    const open = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
    expect(open.status).toBe(200)
    const text = await open.text()
    expect(families(text)).toContain('coffer_http_request_duration_seconds')
    expect(families(text)).toContain('coffer_worker_job_runs_total')
    expect((await fetch(`${baseUrl}/metrics`)).status).toBe(401)
    run.child.kill('SIGTERM')
    expect((await run.exited).code).toBe(0)
  })
})
