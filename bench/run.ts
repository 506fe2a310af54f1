import { mkdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon, { type Instance, type RequestParams } from 'autocannon'
import type { Container } from '../src/container.js'
import { type CpuUse, cpuSnapshot, cpuUse, sampleRss } from './cpu.js'
import {
  checkpoint,
  createDatabase,
  type DatabaseCounters,
  databaseCounters,
  dropDatabase,
  redactUrl,
  serverVersion,
} from './database.js'
import { openBroker, outboxBacklog, percentile, tapEvents, waitForDrain } from './events.js'
import { measureHttpCeiling } from './http-ceiling.js'
import { type BenchOptions, parseOptions, type ScenarioName, UsageError, usage } from './options.js'
import {
  type PgbenchFigure,
  type PgbenchMode,
  pgbenchAvailable,
  preparePgbenchDatabase,
  runPgbench,
} from './pgbench.js'
import { measurePointsExpiry, SPENDABLE_POINTS, seedPointAccounts } from './points.js'
import { formatProfileSummary, type ProfileSummary, summarizeProfileFile } from './profile.js'
import {
  type BenchReport,
  checkTargets,
  type EventRow,
  formatEventsTable,
  formatNotes,
  formatPointsExpiry,
  formatStatements,
  formatTable,
  formatTargets,
  type PointsExpiryFigures,
  type ScenarioResult,
} from './report.js'
import {
  type BenchTarget,
  BULK_CONNECTIONS,
  batchSucceeded,
  type Ceiling,
  deposit,
  EVENT_SCENARIOS,
  HISTORY_SHALLOW_ENTRIES,
  POINTS_EXPIRY_SCENARIO,
  pointsSpend,
  SCENARIOS,
  STATEMENT_SCENARIO,
  transfer,
} from './scenarios.js'
import {
  createServiceKey,
  type DeepWallet,
  openContainer,
  seedDeepWallet,
  seedWallets,
  vacuumAnalyze,
} from './seed.js'
import { cofferEnv, REPO_ROOT, runCoffer, type ServedCoffer, serveCoffer, startWorker } from './server.js'
import { measureStatements, type StatementFigures, statementFailures } from './statement.js'
import { measureWebhookDelivery, type WebhookFigures } from './webhooks.js'

const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results')
const PROFILE_DIR = path.join(RESULTS_DIR, 'profile')
const DRAIN_MS = 2000
/** How long PostgreSQL may take to publish a backend's commit counts. */
const STATS_SETTLE_MS = 1100

const startedAt = Date.now()
function log(message: string): void {
  process.stdout.write(`[${((Date.now() - startedAt) / 1000).toFixed(1).padStart(6)} s] ${message}\n`)
}

/** Everything the run started, undone in reverse order by cleanup(), once, whatever happens. */
const undo: { name: string; run: () => Promise<void> }[] = []
let cleaning: Promise<void> | null = null
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of undo.reverse()) {
      try {
        await step.run()
      } catch (error) {
        process.stderr.write(`bench: cleanup "${step.name}" failed: ${(error as Error).message}\n`)
      }
    }
  })()
  return cleaning
}

const aborter = new AbortController()
let currentLoad: Instance | null = null
function onSignal(signal: NodeJS.Signals): void {
  process.stderr.write(`\nbench: ${signal}, stopping and cleaning up\n`)
  aborter.abort()
  currentLoad?.stop()
  void cleanup().finally(() => process.exit(130))
}

function timestamp(date: Date): { file: string; database: string } {
  const iso = date.toISOString().replace(/\.\d+Z$/, '')
  return {
    file: iso.replace(/:/g, '-'),
    database: `coffer_bench_${iso.replace(/[-:]/g, '').replace('T', '_')}`,
  }
}

async function main(): Promise<number> {
  let parsed: BenchOptions | 'help'
  try {
    parsed = parseOptions(process.argv.slice(2))
  } catch (error) {
    if (!(error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')))
      throw error
    process.stderr.write(`bench: ${(error as Error).message}\n\n${usage()}`)
    return 2
  }
  if (parsed === 'help') {
    process.stdout.write(usage())
    return 0
  }
  const options = parsed
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const stamp = timestamp(new Date(startedAt))
  await mkdir(RESULTS_DIR, { recursive: true })
  const serverUrl = options.databaseUrl
  const failures: string[] = []
  const report: BenchReport = {
    startedAt: new Date(startedAt).toISOString(),
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(
      ' ',
    ),
    machine: {
      cpus: os.availableParallelism(),
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      postgres: await serverVersion(serverUrl),
      platform: `${os.type()} ${os.release()}`,
      loadAverageAtStart: os.loadavg().map((n) => Math.round(n * 100) / 100),
    },
    options: { ...options, databaseUrl: redactUrl(options.databaseUrl), amqpUrl: redactUrl(options.amqpUrl) },
    seed: {},
    pgbench: { available: false, note: 'not run: no write scenario' },
    scenarios: [],
    verify: null,
    failures,
  }
  log(
    `Coffer bench on ${report.machine.cpus} cores (${report.machine.cpuModel}), Node ${report.machine.node}, PostgreSQL ${report.machine.postgres}`,
  )
  const [load1] = os.loadavg()
  if ((load1 ?? 0) > report.machine.cpus / 2) {
    log(
      `warning: load average ${load1?.toFixed(1)} before starting: other work on this machine will disturb the figures`,
    )
  }
  log(
    `scenarios ${options.scenarios.join(', ')}; ${options.duration} s each after ${options.warmup} s warm-up; ` +
      `${options.connections} connections; ${options.wallets} wallets; pool ${options.pool}`,
  )

  // The Coffer database: created, migrated by `coffer migrate`, seeded in-process.
  const benchDb = stamp.database
  const benchUrl = await createDatabase(serverUrl, benchDb)
  undo.push({
    name: `drop ${benchDb}`,
    run: async () => {
      if (options.keep) log(`kept database ${benchDb}`)
      else await dropDatabase(serverUrl, benchDb)
    },
  })
  log(`created database ${benchDb}`)
  await migrate(benchUrl)

  const deepOnly: ScenarioName[] = ['history-deep', 'history-shallow', STATEMENT_SCENARIO]
  const needsWallets = options.scenarios.some((s) => !deepOnly.includes(s))
  let container: Container | null = await openContainer(benchUrl)
  undo.push({ name: 'close seeding container', run: async () => container?.close() })
  const apiKey = await createServiceKey(container)
  let wallets: string[] = []
  if (needsWallets) {
    const began = Date.now()
    wallets = await seedWallets(container, options.wallets)
    report.seed.wallets = { count: wallets.length, seconds: (Date.now() - began) / 1000 }
    log(`seeded and funded ${wallets.length} wallets in ${((Date.now() - began) / 1000).toFixed(1)} s`)
  }
  let deep: DeepWallet | null = null
  if (options.scenarios.some((s) => deepOnly.includes(s))) {
    const began = Date.now()
    deep = await seedDeepWallet(container, options.deepEntries)
    report.seed.deepWallet = { entries: deep.entries, seconds: (Date.now() - began) / 1000 }
    log(`seeded a wallet with ${deep.entries} entries in ${((Date.now() - began) / 1000).toFixed(1)} s`)
  }
  let shallow: DeepWallet | null = null
  if (options.scenarios.includes('history-shallow')) {
    shallow = await seedDeepWallet(container, HISTORY_SHALLOW_ENTRIES)
    log(`seeded a wallet with ${shallow.entries} entries`)
  }
  let pointUsers: string[] = []
  if (options.scenarios.includes('points')) {
    const began = Date.now()
    const seeded = await seedPointAccounts(container, {
      accounts: Math.min(options.wallets, POINT_USERS),
      expiringLots: 0,
      spendable: SPENDABLE_POINTS,
    })
    pointUsers = seeded.userIds
    report.seed.pointUsers = { count: pointUsers.length, seconds: (Date.now() - began) / 1000 }
    log(`seeded ${pointUsers.length} point accounts in ${((Date.now() - began) / 1000).toFixed(1)} s`)
  }
  const vacuumStarted = Date.now()
  await vacuumAnalyze(container)
  log(`vacuum and analyze in ${((Date.now() - vacuumStarted) / 1000).toFixed(1)} s`)
  await container.close()
  container = null

  // The ceilings: pgbench doing a transfer's SQL on the same server, before Coffer runs.
  const ceilings = new Set(options.scenarios.map((s) => SCENARIOS[s].ceiling))
  const pgbenchModes = (['random', 'hot', 'batched'] as const).filter((mode) => ceilings.has(mode))
  if (pgbenchModes.length > 0)
    report.pgbench = await measurePgbench(options, serverUrl, `${benchDb}_pgbench`, pgbenchModes)

  // Coffer itself.
  const profileName = `${stamp.file}.cpuprofile`
  const served = await serveCoffer({
    databaseUrl: benchUrl,
    poolSize: options.pool,
    logFile: path.join(RESULTS_DIR, `${stamp.file}.serve.log`),
    nodeFlags: options.profile
      ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${profileName}`]
      : [],
  })
  undo.push({ name: 'stop coffer serve', run: () => served.stop() })
  log(
    `coffer serve (pid ${served.pid}) ready at ${served.url}; its log: ${path.relative(REPO_ROOT, served.logFile)}`,
  )

  const target: BenchTarget = {
    wallets,
    hotWallet: wallets[0] ?? '',
    merchant: 'bench-shop',
    deep: deep && { id: deep.id, middleCursor: deep.middleCursor },
    shallow: shallow && { id: shallow.id, middleCursor: shallow.middleCursor },
    pointUsers,
  }
  const auth = { authorization: `Bearer ${apiKey}` }
  const walletBody = await preflight(served, auth, target)

  // The HTTP ceiling, while coffer serve is idle: a bare server answering a wallet's own JSON.
  if (ceilings.has('http') && !aborter.signal.aborted) {
    log(`http ceiling: bare node:http, ${options.connections} connections for ${options.duration} s`)
    try {
      report.httpCeiling = await measureHttpCeiling({
        body: walletBody ?? JSON.stringify({ id: '00000000-0000-7000-8000-000000000000', balance: '0.00' }),
        connections: options.connections,
        duration: options.duration,
        warmup: options.warmup,
        signal: aborter.signal,
        onLoad: (load) => {
          currentLoad = load
        },
      })
      log(`http ceiling: ${Math.round(report.httpCeiling.requestsPerSecond)} req/s`)
    } catch (error) {
      if (aborter.signal.aborted) throw error
      report.httpCeiling = { unavailable: (error as Error).message }
      log(`http ceiling failed: ${(error as Error).message}`)
    }
  }

  for (const name of options.scenarios) {
    if (aborter.signal.aborted) break
    if (EVENT_SCENARIOS.includes(name) || name === POINTS_EXPIRY_SCENARIO || name === STATEMENT_SCENARIO)
      continue
    const result = await measureScenario(name, options, served, auth, target, report, benchUrl)
    report.scenarios.push(result)
    if (result.status === 'measured') {
      const codes = result.statusCodes ?? {}
      const ok = Object.entries(codes).reduce((n, [code, count]) => (code.startsWith('2') ? n + count : n), 0)
      const serverErrors = Object.entries(codes).reduce(
        (n, [code, count]) => (code.startsWith('5') ? n + count : n),
        0,
      )
      if (ok === 0) failures.push(`${name}: no successful response`)
      if (serverErrors > 0) failures.push(`${name}: ${serverErrors} responses were 5xx (see the serve log)`)
    }
  }

  comparePointsWithWithdrawals(report)
  if (options.scenarios.includes(POINTS_EXPIRY_SCENARIO) && !aborter.signal.aborted) {
    await sleep(DRAIN_MS)
    report.pointsExpiry = await measureExpiry(options, benchUrl, served, auth)
    if (report.pointsExpiry.dueAfter > 0) failures.push('points-expiry: lots were still due after the job')
    if (report.pointsExpiry.spends.failed > 0)
      failures.push(`points-expiry: ${report.pointsExpiry.spends.failed} spends failed during the expiry`)
  }

  // autocannon hangs up on requests still in flight when a run ends; let the server finish them
  // before it shuts down, or they fail on closed pools and litter the log.
  await sleep(DRAIN_MS)
  await served.stop()
  if (options.scenarios.includes('reads') && !aborter.signal.aborted) {
    await measureReadsCached(options, benchUrl, auth, target, report, stamp.file)
  }
  const serveErrors = await errorLines(served.logFile)
  report.serveLog = { file: path.relative(REPO_ROOT, served.logFile), errorLines: serveErrors }
  if (serveErrors > 0)
    log(`the serve log has ${serveErrors} error lines: ${path.relative(REPO_ROOT, served.logFile)}`)
  let profile: ProfileSummary | null = null
  if (options.profile) {
    const file = path.join(PROFILE_DIR, profileName)
    try {
      profile = await summarizeProfileFile(file)
      report.profile = profile
    } catch (error) {
      // Node writes the profile only on a clean exit; a killed server leaves none.
      failures.push(`no CPU profile at ${path.relative(REPO_ROOT, file)}: ${(error as Error).message}`)
    }
  }

  const eventScenarios = options.scenarios.filter((s) => EVENT_SCENARIOS.includes(s))
  if (eventScenarios.length > 0 && !aborter.signal.aborted) {
    report.events = await measureEvents(eventScenarios, options, benchUrl, auth, target, stamp, failures)
  }

  // After the event scenarios: the worker relays the outbox, whose backlog the relay scenario drains.
  if (options.scenarios.includes(STATEMENT_SCENARIO) && deep && !aborter.signal.aborted) {
    report.statements = await measureStatementScenario(options, benchUrl, auth, deep.id, stamp.file)
    failures.push(...statementFailures(report.statements))
  }

  log('coffer verify on the bench database')
  const verified = await runCoffer(['verify'], cofferEnv(benchUrl), aborter.signal)
  report.verify = { ok: verified.code === 0, output: verified.output.trim() }
  if (verified.code !== 0) failures.push('coffer verify found invariant violations')

  report.targets = checkTargets(report)
  const resultsFile = path.join(RESULTS_DIR, `${stamp.file}.json`)
  await writeFile(
    resultsFile,
    `${JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? String(v) : v), 2)}\n`,
  )

  process.stdout.write(`\n${report.command}\n`)
  process.stdout.write(
    `${report.machine.cpus} cores ${report.machine.cpuModel}, Node ${report.machine.node}, PostgreSQL ${report.machine.postgres}; ` +
      `${options.connections} connections, ${options.duration} s per scenario, ${options.wallets} wallets\n\n`,
  )
  if (report.scenarios.length > 0) process.stdout.write(`${formatTable(report)}\n`)
  if (report.events) process.stdout.write(`\n${formatEventsTable(report.events)}\n`)
  if (report.balanceCache) {
    const c = report.balanceCache
    process.stdout.write(
      `\nreads with/without the balance cache: ${Math.round(c.onOkPerSecond)} / ${Math.round(c.offOkPerSecond)} 2xx/s ` +
        `= x${c.ratio.toFixed(2)}; p99 ${c.p99OnMs} / ${c.p99OffMs} ms\n`,
    )
  }
  if (report.pointsVsWithdrawals) {
    const c = report.pointsVsWithdrawals
    process.stdout.write(
      `\npoints (earn/spend) vs withdrawals: ${Math.round(c.pointsOkPerSecond)} / ${Math.round(c.withdrawalsOkPerSecond)} 2xx/s ` +
        `= x${c.ratio.toFixed(2)} (${c.ratio >= 1 ? 'at least as fast' : 'slower'}); p99 ${c.pointsP99Ms} / ${c.withdrawalsP99Ms} ms\n`,
    )
  }
  if (report.pointsExpiry) process.stdout.write(`\n${formatPointsExpiry(report.pointsExpiry)}\n`)
  if (report.statements) process.stdout.write(`\n${formatStatements(report.statements)}\n`)
  const notes = formatNotes(report)
  if (notes) process.stdout.write(`\n${notes}\n`)
  process.stdout.write(
    '\n  req/s counts every response; ok/s the 2xx (bulk: succeeded transfers); ratio = ok/s ÷ ceiling/s, the ceiling\n' +
      '  measured in this run (pgbench ×100/commit: 100 × its tps); CPU ms/req = utime + stime of coffer serve ÷ requests.\n',
  )
  process.stdout.write(`\n${formatTargets(report.targets)}\n`)
  if (profile) process.stdout.write(`\n${formatProfileSummary(profile)}\n`)
  process.stdout.write(`\n${report.verify.output}\n`)
  process.stdout.write(`results: ${path.relative(REPO_ROOT, resultsFile)}\n`)
  for (const failure of failures) process.stdout.write(`FAILED: ${failure}\n`)
  return failures.length === 0 ? 0 : 1
}

/**
 * statement: a `coffer serve` and a `coffer worker` of the scenario's own, as an operator runs
 * them apart, on the bench database; the worker's RSS is the process's alone. Under --profile the
 * worker runs under --cpu-prof, and the summary is printed with the rows.
 */
async function measureStatementScenario(
  options: BenchOptions,
  benchUrl: string,
  auth: Record<string, string>,
  walletId: string,
  runName: string,
): Promise<StatementFigures[]> {
  const served = await serveCoffer({
    databaseUrl: benchUrl,
    poolSize: options.pool,
    logFile: path.join(RESULTS_DIR, `${runName}.statement-serve.log`),
  })
  undo.push({ name: 'stop the statement coffer serve', run: () => served.stop() })
  const profileName = `${runName}.worker.cpuprofile`
  const worker = await startWorker({
    databaseUrl: benchUrl,
    logFile: path.join(RESULTS_DIR, `${runName}.worker.log`),
    nodeFlags: options.profile
      ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${profileName}`]
      : [],
  })
  undo.push({ name: 'stop coffer worker', run: () => worker.stop() })
  log(
    `statement: coffer serve (pid ${served.pid}) at ${served.url}, coffer worker (pid ${worker.pid}); ` +
      `its log: ${path.relative(REPO_ROOT, worker.logFile)}`,
  )
  try {
    return await measureStatements({
      apiUrl: served.url,
      auth,
      benchUrl,
      walletId,
      workerPid: worker.pid,
      signal: aborter.signal,
      log,
    })
  } finally {
    await worker.stop()
    await served.stop()
    for (const file of [worker.logFile, served.logFile]) {
      const errors = await errorLines(file)
      if (errors > 0) log(`statement: ${errors} error lines in ${path.relative(REPO_ROOT, file)}`)
    }
    if (options.profile) {
      const file = path.join(PROFILE_DIR, profileName)
      try {
        log(`statement: worker profile\n${formatProfileSummary(await summarizeProfileFile(file))}`)
      } catch (error) {
        log(`statement: no worker profile at ${path.relative(REPO_ROOT, file)}: ${(error as Error).message}`)
      }
    }
  }
}

/** Point accounts of the points scenario: random users, so spends rarely wait on each other. */
const POINT_USERS = 10_000

/** Whether points earn/spend keeps up with a wallet withdrawal, both measured in this run. */
function comparePointsWithWithdrawals(report: BenchReport): void {
  const measured = (name: string) => report.scenarios.find((s) => s.name === name && s.status === 'measured')
  const points = measured('points')
  const withdrawals = measured('withdrawals')
  if (!points?.okPerSecond || !withdrawals?.okPerSecond) return
  report.pointsVsWithdrawals = {
    pointsOkPerSecond: points.okPerSecond,
    withdrawalsOkPerSecond: withdrawals.okPerSecond,
    ratio: points.okPerSecond / withdrawals.okPerSecond,
    pointsP99Ms: points.latencyMs?.p99 ?? 0,
    withdrawalsP99Ms: withdrawals.latencyMs?.p99 ?? 0,
  }
  log(
    `points vs withdrawals: x${report.pointsVsWithdrawals.ratio.toFixed(2)} 2xx/s, p99 ` +
      `${report.pointsVsWithdrawals.pointsP99Ms} / ${report.pointsVsWithdrawals.withdrawalsP99Ms} ms`,
  )
}

/**
 * points-expiry: the seeding and the sweep run in a container of this process (the worker job's
 * own code on the bench database), the probe spends go to the served Coffer.
 */
async function measureExpiry(
  options: BenchOptions,
  benchUrl: string,
  served: ServedCoffer,
  auth: Record<string, string>,
): Promise<PointsExpiryFigures> {
  const container = await openContainer(benchUrl)
  try {
    log(`points-expiry: ${options.pointsLots} lots due, spends at a low rate meanwhile`)
    const figures = await measurePointsExpiry(container, {
      lots: options.pointsLots,
      apiUrl: served.url,
      auth,
      spendRequest: (userIds) => {
        const request = pointsSpend({ method: 'POST', path: '/', headers: {} }, userIds)
        return { path: request.path, headers: request.headers, body: String(request.body) }
      },
      log,
    })
    log(
      `points-expiry: ${figures.lots} lots in ${figures.seconds.toFixed(1)} s (${Math.round(figures.lotsPerSecond)} lots/s); ` +
        `spends p99 ${figures.spends.p99} ms, max ${figures.spends.max} ms`,
    )
    return figures
  } finally {
    await container.close()
  }
}

/**
 * `reads` again against a second `coffer serve` with the Redis balance cache on (the first run has
 * no REDIS_URL, so the cache is off): the same load, one run, the ratio of the two. Its keys live
 * under a prefix of this run's own and expire with the TTL.
 */
async function measureReadsCached(
  options: BenchOptions,
  benchUrl: string,
  auth: Record<string, string>,
  target: BenchTarget,
  report: BenchReport,
  runName: string,
): Promise<void> {
  const uncached = report.scenarios.find((s) => s.name === 'reads' && s.status === 'measured')
  const cached = await serveCoffer({
    databaseUrl: benchUrl,
    poolSize: options.pool,
    logFile: path.join(RESULTS_DIR, `${runName}.serve-cached.log`),
    env: {
      REDIS_URL: options.redisUrl,
      REDIS_KEY_PREFIX: `coffer-bench-${runName}:`,
      BALANCE_CACHE: 'redis',
      // Longer than the run, so the figure is the one of a warm cache, not of its expiry.
      BALANCE_CACHE_TTL_SECONDS: '3600',
    },
  })
  try {
    log(`reads with the Redis balance cache: coffer serve (pid ${cached.pid}) at ${cached.url}`)
    const began = Date.now()
    await warmBalanceCache(cached.url, auth, target.wallets)
    log(`read every wallet once to fill the cache in ${((Date.now() - began) / 1000).toFixed(1)} s`)
    const result = await measureScenario('reads', options, cached, auth, target, report, benchUrl)
    result.name = 'reads (cache)'
    result.description = `${result.description}, Redis balance cache on`
    report.scenarios.push(result)
    if (uncached?.okPerSecond && result.okPerSecond) {
      report.balanceCache = {
        offOkPerSecond: uncached.okPerSecond,
        onOkPerSecond: result.okPerSecond,
        ratio: result.okPerSecond / uncached.okPerSecond,
        p99OffMs: uncached.latencyMs?.p99 ?? 0,
        p99OnMs: result.latencyMs?.p99 ?? 0,
      }
      log(
        `reads: ${Math.round(result.okPerSecond)} 2xx/s with the balance cache, ${Math.round(uncached.okPerSecond)} without: ` +
          `x${report.balanceCache.ratio.toFixed(2)}`,
      )
    }
  } finally {
    await sleep(DRAIN_MS)
    await cached.stop()
  }
}

/** One GET of every wallet, a few at a time: a client that reads its balance has read it before. */
async function warmBalanceCache(url: string, auth: Record<string, string>, wallets: string[]): Promise<void> {
  let next = 0
  const reader = async () => {
    while (next < wallets.length) {
      const id = wallets[next++]!
      const response = await fetch(`${url}/api/v1/wallets/${id}`, { headers: auth })
      if (response.status !== 200) throw new Error(`GET /wallets/${id} answered ${response.status}`)
      await response.arrayBuffer()
    }
  }
  await Promise.all(Array.from({ length: 16 }, reader))
}

/** pino lines at level error (50) or fatal (60). */
async function errorLines(logFile: string): Promise<number> {
  const text = await readFile(logFile, 'utf8').catch(() => '')
  return text.split('\n').filter((line) => /"level":(50|60)/.test(line)).length
}

async function migrate(url: string): Promise<void> {
  const migrated = await runCoffer(['migrate'], cofferEnv(url), aborter.signal)
  if (migrated.code !== 0) throw new Error(`coffer migrate failed:\n${migrated.output}`)
}

async function measurePgbench(
  options: BenchOptions,
  serverUrl: string,
  database: string,
  modes: PgbenchMode[],
): Promise<BenchReport['pgbench']> {
  if (!(await pgbenchAvailable())) {
    log('pgbench is not installed: no ceiling to compare with')
    return { available: false, note: 'pgbench not found (set PGBENCH to its path)' }
  }
  const url = await createDatabase(serverUrl, database)
  undo.push({
    name: `drop ${database}`,
    run: async () => {
      if (options.keep) log(`kept database ${database}`)
      else await dropDatabase(serverUrl, database)
    },
  })
  await migrate(url)
  await preparePgbenchDatabase(url, options.wallets)
  const figures: Partial<Record<PgbenchMode, PgbenchFigure & { cpu: CpuUse | null }>> = {}
  for (const mode of modes) {
    await checkpoint(url)
    // The batched floor runs as many clients as the bulk scenario sends batches at once.
    const clients = mode === 'batched' ? BULK_CONNECTIONS : options.connections
    log(`pgbench ${mode}: ${clients} clients for ${options.pgbenchDuration} s`)
    const running = runPgbench({
      url,
      mode,
      clients,
      seconds: options.pgbenchDuration,
      wallets: options.wallets,
      scriptDir: RESULTS_DIR,
      signal: aborter.signal,
    })
    // pgbench and its backends are gone once it ends, so their CPU is sampled while it runs:
    // from 1 s in (connections made) to 0.5 s before the end.
    const sampled = (async () => {
      await sleep(1000)
      const before = await cpuSnapshot(null)
      await sleep(Math.max(500, options.pgbenchDuration * 1000 - 1500))
      return cpuUse(before, await cpuSnapshot(null), null)
    })()
    try {
      const [figure, cpu] = await Promise.all([running, sampled])
      log(`pgbench ${mode}: ${Math.round(figure.tps)} tps`)
      figures[mode] = { ...figure, cpu }
    } catch (error) {
      // No ceiling is no reason to throw away Coffer's figures: the table says what is missing.
      if (aborter.signal.aborted) throw error
      const reason = (error as Error).message.split('\n').slice(0, 3).join(' ')
      log(`pgbench ${mode} failed: ${reason}`)
      return { available: true, ...figures, note: `pgbench ${mode} failed: ${reason}` }
    }
  }
  return { available: true, ...figures }
}

async function send(
  served: ServedCoffer,
  auth: Record<string, string>,
  request: RequestParams,
): Promise<{ status: number; body: string }> {
  const response = await fetch(`${served.url}${request.path}`, {
    method: request.method,
    headers: { ...request.headers, ...auth },
    ...(request.body === undefined ? {} : { body: request.body.toString() }),
  })
  return { status: response.status, body: await response.text() }
}

/**
 * Fails fast, with the answer, when the harness cannot work: better than a table of errors.
 * Answers a wallet's JSON, the body the HTTP ceiling serves.
 */
async function preflight(
  served: ServedCoffer,
  auth: Record<string, string>,
  target: BenchTarget,
): Promise<string | null> {
  const wallet = target.wallets[0]
  let walletBody: string | null = null
  if (wallet) {
    const read = await send(served, auth, { method: 'GET', path: `/api/v1/wallets/${wallet}`, headers: {} })
    if (read.status !== 200) throw new Error(`GET /api/v1/wallets/{id} answered ${read.status}: ${read.body}`)
    walletBody = read.body
  }
  for (const history of [target.deep, target.shallow]) {
    if (!history) continue
    const base = `/api/v1/wallets/${history.id}/transactions`
    for (const pagePath of [base, `${base}?cursor=${history.middleCursor}`]) {
      const page = await send(served, auth, { method: 'GET', path: pagePath, headers: {} })
      const items = page.status === 200 ? (JSON.parse(page.body) as { items: unknown[] }).items.length : 0
      if (items === 0)
        throw new Error(`GET ${pagePath} answered ${page.status} with no items: ${page.body.slice(0, 500)}`)
    }
  }
  return walletBody
}

function problemCode(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { code?: string }).code
  } catch {
    return undefined
  }
}

/** The ceiling of a row in its unit per second: requests of the bare server, transfers of pgbench. */
function ceilingOf(kind: Ceiling | null, report: BenchReport): ScenarioResult['ceiling'] {
  if (kind === null) return null
  if (kind === 'http') {
    const http = report.httpCeiling
    return http && !('unavailable' in http) ? { kind, perSecond: http.requestsPerSecond } : null
  }
  const figure = report.pgbench[kind]
  return figure ? { kind, perSecond: figure.tps * figure.transfersPerCommit } : null
}

async function measureScenario(
  name: ScenarioName,
  options: BenchOptions,
  served: ServedCoffer,
  auth: Record<string, string>,
  target: BenchTarget,
  report: BenchReport,
  benchUrl: string,
): Promise<ScenarioResult> {
  const scenario = SCENARIOS[name]
  if (scenario.probe) {
    const probed = await send(served, auth, scenario.probe(target))
    const code = probed.status === 404 ? problemCode(probed.body) : undefined
    if (code === 'not_found') {
      log(`${name}: not available (the route answers 404)`)
      return {
        name,
        description: scenario.description,
        status: 'not available',
        note: `not available: ${scenario.probe(target).path} answered 404 ${code}`,
      }
    }
  }
  await checkpoint(benchUrl)
  log(`${name}: ${scenario.description}`)
  // Succeeded movements of a batch scenario, counted from each answer while measuring.
  let succeededItems = 0
  let counting = false
  const requests = scenario.requests(target).map((request) =>
    scenario.itemsPerRequest
      ? {
          ...request,
          onResponse: (status: number, body: string) => {
            if (counting && status === 200) succeededItems += batchSucceeded(body)
          },
        }
      : request,
  )
  const loadFor = async (duration: number) => {
    const load = autocannon({
      url: served.url,
      connections: scenario.connections ?? options.connections,
      duration,
      headers: auth,
      requests,
      ...(scenario.overallRate ? { overallRate: scenario.overallRate } : {}),
    })
    currentLoad = load
    try {
      return await load
    } finally {
      currentLoad = null
    }
  }
  if (options.warmup > 0) await loadFor(options.warmup)
  await sleep(STATS_SETTLE_MS)
  const countersBefore = await databaseCounters(benchUrl)
  const before = await cpuSnapshot(served.pid)
  const rssSampler = sampleRss(served.pid)
  counting = true
  const result = await loadFor(options.duration)
  counting = false
  const rss = await rssSampler.stop()
  const cpu = cpuUse(before, await cpuSnapshot(served.pid), result.requests.total)
  await sleep(STATS_SETTLE_MS)
  const countersAfter = await databaseCounters(benchUrl)
  const total = result.requests.total
  const perRequest = (pick: (c: DatabaseCounters) => number | null) => {
    const a = countersBefore && pick(countersBefore)
    const b = countersAfter && pick(countersAfter)
    return a === null || b === null || total === 0 ? null : (b - a) / total
  }
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]),
  )
  const okPerSecond = scenario.itemsPerRequest
    ? succeededItems / result.duration
    : result['2xx'] / result.duration
  const ceiling = ceilingOf(scenario.ceiling, report)
  const measured: ScenarioResult = {
    name,
    description: scenario.description,
    status: 'measured',
    seconds: result.duration,
    requestsPerSecond: total / result.duration,
    okPerSecond,
    latencyMs: {
      p50: result.latency.p50,
      p99: result.latency.p99,
      max: result.latency.max,
      average: result.latency.average,
    },
    requests: total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    ...(scenario.itemsPerRequest ? { batchesPerSecond: result['2xx'] / result.duration } : {}),
    ...(scenario.overallRate ? { offeredPerSecond: scenario.overallRate } : {}),
    rss,
    ceiling,
    ratio: ceiling ? okPerSecond / ceiling.perSecond : null,
    cpu,
    database: {
      commitsPerRequest: perRequest((c) => c.commits),
      rollbacksPerRequest: perRequest((c) => c.rollbacks),
      walBytesPerRequest: perRequest((c) => c.walBytes),
    },
  }
  log(
    `${name}: ${Math.round(measured.requestsPerSecond!)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ` +
      `non-2xx ${result.non2xx}, errors ${result.errors}`,
  )
  return measured
}

/** Offered rates and goals of issue 11 for the event scenarios. */
const RELAY_OFFERED_TRANSFERS = 1000
const OPERATIONS_OFFERED = 500
const RELAY_GOAL_EVENTS = 5000
const RELAY_GOAL_LAG_MS = 1000
const OPERATIONS_GOAL_MS = 100
/** How long the backlog may take to drain, and operations to finish, before the bench gives up. */
const DRAIN_TIMEOUT_MS = 60_000
const SETTLE_TIMEOUT_MS = 15_000

function notAvailable(names: ScenarioName[], note: string): EventRow[] {
  const rows: EventRow[] = []
  if (names.includes('relay')) {
    rows.push(
      {
        name: 'relay',
        status: 'not available',
        note,
        unit: '',
        rate: null,
        latencyMs: null,
        goal: `≥ ${RELAY_GOAL_EVENTS.toLocaleString('en-US')} events/s`,
        goalMet: null,
        details: {},
      },
      {
        name: 'relay-lag',
        status: 'not available',
        note,
        unit: '',
        rate: null,
        latencyMs: null,
        goal: `p99 ≤ ${RELAY_GOAL_LAG_MS.toLocaleString('en-US')} ms at ${RELAY_OFFERED_TRANSFERS.toLocaleString('en-US')} transfers/s`,
        goalMet: null,
        details: {},
      },
    )
  }
  if (names.includes('webhooks'))
    rows.push({
      name: 'webhooks',
      status: 'not available',
      note,
      unit: '',
      rate: null,
      latencyMs: null,
      goal: `≥ ${WEBHOOK_GOAL_EVENTS.toLocaleString('en-US')} deliveries/s`,
      goalMet: null,
      details: {},
    })
  if (names.includes('operations'))
    rows.push({
      name: 'operations',
      status: 'not available',
      note,
      unit: '',
      rate: null,
      latencyMs: null,
      goal: `p99 ≤ ${OPERATIONS_GOAL_MS} ms at ${OPERATIONS_OFFERED} ops/s`,
      goalMet: null,
      details: {},
    })
  return rows
}

const latencyOf = (values: number[]) => ({
  p50: percentile(values, 50),
  p99: percentile(values, 99),
  max: values.length === 0 ? null : Math.max(...values),
  samples: values.length,
})

/**
 * relay and operations: a `coffer start` (API and worker in one process) on PostgreSQL and
 * RabbitMQ (a vhost of the run's own), after `coffer serve` has stopped. The relay first drains
 * the outbox the HTTP scenarios and the funding left (events/s published with confirms, counted
 * by the bench's own queue bound to `#` on coffer.events); then transfers at a fixed offered
 * 1,000/s (lag: delivery time minus the event's occurredAt); then deposits through
 * POST /operations at a fixed offered 500/s (each 202's time to its operation.succeeded event).
 */
async function measureEvents(
  names: ScenarioName[],
  options: BenchOptions,
  benchUrl: string,
  auth: Record<string, string>,
  target: BenchTarget,
  stamp: { file: string; database: string },
  failures: string[],
): Promise<EventRow[]> {
  const broker = await openBroker(options.amqpUrl, stamp.database)
  if ('unavailable' in broker) {
    log(`relay, operations: not available: ${broker.unavailable}`)
    return notAvailable(names, broker.unavailable)
  }
  let removed = false
  const removeVhost = async () => {
    if (removed) return
    removed = true
    await broker.remove()
  }
  undo.push({ name: `delete vhost ${broker.vhost}`, run: removeVhost })
  const tap = await tapEvents(broker.url)
  let tapOpen = true
  const closeTap = async () => {
    if (!tapOpen) return
    tapOpen = false
    await tap.close()
  }
  undo.push({ name: 'close the event tap', run: closeTap })
  const backlog = await outboxBacklog(benchUrl)
  const logFile = path.join(RESULTS_DIR, `${stamp.file}.start.log`)
  const started = await serveCoffer({
    databaseUrl: benchUrl,
    poolSize: options.pool,
    logFile,
    command: 'start',
    // The bench's webhook receiver listens on 127.0.0.1.
    env: { AMQP_URL: broker.url, WEBHOOK_ALLOW_LOCALHOST: 'true' },
  })
  undo.push({ name: 'stop coffer start', run: () => started.stop() })
  log(`coffer start (pid ${started.pid}) on RabbitMQ vhost ${broker.vhost}, ${backlog} events in the outbox`)
  const rows: EventRow[] = []

  // The backlog, drained by the relay: always, so the later phases' events are not queued behind it.
  const drained = await waitForDrain(benchUrl, tap, backlog, Math.max(DRAIN_TIMEOUT_MS, backlog))
  const first = tap.since(0).slice(0, backlog)
  const drainSeconds = first.length > 1 ? (first.at(-1)!.receivedAt - first[0]!.receivedAt) / 1000 : null
  const eventsPerSecond = drainSeconds ? (first.length - 1) / drainSeconds : null
  log(
    `relay: ${first.length} of ${backlog} events delivered` +
      (eventsPerSecond ? `, ${Math.round(eventsPerSecond)} events/s` : '') +
      (drained ? '' : ' (not drained in time)'),
  )
  if (names.includes('relay')) {
    rows.push({
      name: 'relay',
      status: 'measured',
      unit: 'events/s published (backlog drain)',
      rate: eventsPerSecond,
      latencyMs: null,
      goal: `≥ ${RELAY_GOAL_EVENTS.toLocaleString('en-US')} events/s`,
      goalMet: eventsPerSecond === null ? null : eventsPerSecond >= RELAY_GOAL_EVENTS,
      details: { backlog, delivered: first.length, drainSeconds, drained },
      ...(drained ? {} : { note: `the outbox was not drained within the timeout` }),
      ...(backlog < 5000 && drained
        ? { note: `only ${backlog} events in the backlog: a short drain, a rough rate` }
        : {}),
    })
    if (!drained) failures.push('relay: the outbox backlog did not drain')
  }

  const fixedRate = async (
    rate: number,
    requests: Parameters<typeof autocannon>[0]['requests'],
    duration: number,
  ) => {
    const load = autocannon({
      url: started.url,
      connections: options.connections,
      duration,
      overallRate: rate,
      headers: auth,
      requests,
    })
    currentLoad = load
    try {
      return await load
    } finally {
      currentLoad = null
    }
  }
  const serverErrors = (result: Awaited<ReturnType<typeof fixedRate>>) =>
    Object.entries(result.statusCodeStats).reduce(
      (n, [code, s]) => (code.startsWith('5') ? n + s.count : n),
      0,
    )

  if (names.includes('relay') && !aborter.signal.aborted) {
    const transfers = [{ setupRequest: (request: RequestParams) => transfer(request, target.wallets) }]
    log(`relay-lag: transfers at a fixed ${RELAY_OFFERED_TRANSFERS}/s, lag from commit to delivery`)
    if (options.warmup > 0) await fixedRate(RELAY_OFFERED_TRANSFERS, transfers, options.warmup)
    await waitForDrain(benchUrl, tap, 0, SETTLE_TIMEOUT_MS)
    const from = tap.count()
    const result = await fixedRate(RELAY_OFFERED_TRANSFERS, transfers, options.duration)
    const settled = await waitForDrain(benchUrl, tap, from + result['2xx'], SETTLE_TIMEOUT_MS)
    const lags = tap
      .since(from)
      .filter((d) => d.type === 'transaction.posted' && Number.isFinite(d.occurredAt))
      .map((d) => Math.max(0, d.receivedAt - d.occurredAt))
    const latency = latencyOf(lags)
    const ok = result['2xx'] / result.duration
    rows.push({
      name: 'relay-lag',
      status: 'measured',
      unit: `transfers/s 2xx (offered ${RELAY_OFFERED_TRANSFERS.toLocaleString('en-US')}), lag ms`,
      rate: ok,
      latencyMs: latency,
      goal: `p99 ≤ ${RELAY_GOAL_LAG_MS.toLocaleString('en-US')} ms at ${RELAY_OFFERED_TRANSFERS.toLocaleString('en-US')} transfers/s`,
      goalMet:
        latency.p99 === null
          ? null
          : latency.p99 <= RELAY_GOAL_LAG_MS && ok >= 0.95 * RELAY_OFFERED_TRANSFERS,
      details: {
        offeredPerSecond: RELAY_OFFERED_TRANSFERS,
        requests: result.requests.total,
        ok: result['2xx'],
        non2xx: result.non2xx,
        errors: result.errors + result.timeouts,
        httpLatencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
        eventsDelivered: lags.length,
        settled,
      },
      ...(settled ? {} : { note: 'not every event was delivered within 15 s of the end of the load' }),
    })
    log(`relay-lag: ${Math.round(ok)} transfers/s, lag p50 ${latency.p50} ms, p99 ${latency.p99} ms`)
    if (result['2xx'] === 0) failures.push('relay-lag: no successful response')
    if (serverErrors(result) > 0) failures.push(`relay-lag: ${serverErrors(result)} responses were 5xx`)
  }

  if (names.includes('operations') && !aborter.signal.aborted) {
    const accepted = new Map<string, number>()
    let recording = false
    const operations = [
      {
        setupRequest: (request: RequestParams) => deposit(request, target.wallets),
        onResponse: (status: number, body: string) => {
          if (status !== 202 || !recording) return
          const at = Date.now()
          try {
            accepted.set((JSON.parse(body) as { id: string }).id, at)
          } catch {
            // counted as a 202 without an id: unmatched
          }
        },
      },
    ]
    log(`operations: async deposits at a fixed ${OPERATIONS_OFFERED}/s, 202 to operation.succeeded`)
    if (options.warmup > 0) await fixedRate(OPERATIONS_OFFERED, operations, options.warmup)
    await waitForDrain(benchUrl, tap, 0, SETTLE_TIMEOUT_MS)
    recording = true
    const result = await fixedRate(OPERATIONS_OFFERED, operations, options.duration)
    recording = false
    const deadline = Date.now() + SETTLE_TIMEOUT_MS
    const done = () => [...accepted.keys()].every((id) => tap.outcomes.has(id))
    while (!done() && Date.now() < deadline) await sleep(100)
    const times: number[] = []
    let failed = 0
    let unmatched = 0
    for (const [id, at] of accepted) {
      const outcome = tap.outcomes.get(id)
      if (!outcome) unmatched += 1
      else if (outcome.status === 'failed') failed += 1
      else times.push(Math.max(0, outcome.receivedAt - at))
    }
    const latency = latencyOf(times)
    const acceptedPerSecond = (result.statusCodeStats['202']?.count ?? 0) / result.duration
    rows.push({
      name: 'operations',
      status: 'measured',
      unit: `202/s (offered ${OPERATIONS_OFFERED}), 202 to succeeded ms`,
      rate: acceptedPerSecond,
      latencyMs: latency,
      goal: `p99 ≤ ${OPERATIONS_GOAL_MS} ms at ${OPERATIONS_OFFERED} ops/s`,
      goalMet:
        latency.p99 === null
          ? null
          : latency.p99 <= OPERATIONS_GOAL_MS &&
            acceptedPerSecond >= 0.95 * OPERATIONS_OFFERED &&
            failed === 0 &&
            unmatched === 0,
      details: {
        offeredPerSecond: OPERATIONS_OFFERED,
        requests: result.requests.total,
        accepted: accepted.size,
        succeeded: times.length,
        failed,
        unmatched,
        non2xx: result.non2xx,
        errors: result.errors + result.timeouts,
        statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([c, s]) => [c, s.count])),
        httpLatencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      },
      ...(failed + unmatched > 0
        ? { note: `${failed} operation.failed, ${unmatched} without an outcome within 15 s` }
        : {}),
    })
    log(
      `operations: ${Math.round(acceptedPerSecond)} accepted/s, 202 to succeeded p50 ${latency.p50} ms, p99 ${latency.p99} ms` +
        (failed + unmatched > 0 ? `, ${failed} failed, ${unmatched} unmatched` : ''),
    )
    if (accepted.size === 0) failures.push('operations: no 202 Accepted')
    if (serverErrors(result) > 0) failures.push(`operations: ${serverErrors(result)} responses were 5xx`)
  }

  if (names.includes('webhooks') && !aborter.signal.aborted) {
    rows.push(
      ...webhookRows(
        await measureWebhookDelivery({
          apiUrl: started.url,
          auth,
          benchUrl,
          transfersAtRate: async (rate, duration) => {
            const result = await fixedRate(
              rate,
              [{ setupRequest: (request: RequestParams) => transfer(request, target.wallets) }],
              duration,
            )
            return { ok: result['2xx'], duration: result.duration, serverErrors: serverErrors(result) }
          },
          warmup: options.warmup,
          duration: options.duration,
          log,
        }),
        failures,
      ),
    )
  }

  await sleep(DRAIN_MS)
  await started.stop()
  const startErrors = await errorLines(logFile)
  if (startErrors > 0)
    log(`the start log has ${startErrors} error lines: ${path.relative(REPO_ROOT, logFile)}`)
  for (const row of rows)
    row.details.startLog = { file: path.relative(REPO_ROOT, logFile), errorLines: startErrors }
  await closeTap()
  await removeVhost()
  return rows
}

const WEBHOOK_GOAL_EVENTS = 1000
const WEBHOOK_GOAL_LAG_MS = 1000

/** The rows of the webhooks scenario: the replayed backlog's drain rate, and the lag under load. */
function webhookRows(figures: WebhookFigures, failures: string[]): EventRow[] {
  const { drain, lag } = figures
  const rows: EventRow[] = [
    {
      name: 'webhooks',
      status: 'measured',
      unit: 'deliveries/s to a local receiver (replayed backlog)',
      rate: drain.eventsPerSecond,
      latencyMs: null,
      goal: `≥ ${WEBHOOK_GOAL_EVENTS.toLocaleString('en-US')} deliveries/s`,
      goalMet: drain.eventsPerSecond === null ? null : drain.eventsPerSecond >= WEBHOOK_GOAL_EVENTS,
      details: drain,
      ...(drain.drained
        ? {}
        : { note: `${drain.delivered} of ${drain.deliveries} delivered within the timeout` }),
    },
  ]
  log(
    `webhooks: ${drain.delivered} of ${drain.deliveries} delivered` +
      (drain.eventsPerSecond ? `, ${Math.round(drain.eventsPerSecond)} deliveries/s` : ''),
  )
  if (!drain.drained) failures.push('webhooks: the replayed backlog was not delivered')
  if (lag) {
    const latency = latencyOf(lag.lagsMs)
    rows.push({
      name: 'webhooks-lag',
      status: 'measured',
      unit: `transfers/s 2xx (offered ${lag.offeredPerSecond.toLocaleString('en-US')}), commit to receiver ms`,
      rate: lag.transfersPerSecond,
      latencyMs: latency,
      goal: `p99 ≤ ${WEBHOOK_GOAL_LAG_MS.toLocaleString('en-US')} ms at ${lag.offeredPerSecond.toLocaleString('en-US')} transfers/s`,
      goalMet:
        latency.p99 === null
          ? null
          : latency.p99 <= WEBHOOK_GOAL_LAG_MS && lag.transfersPerSecond >= 0.95 * lag.offeredPerSecond,
      details: { expected: lag.expected, delivered: lag.lagsMs.length, settled: lag.settled },
      ...(lag.settled ? {} : { note: 'not every transfer was delivered within 15 s of the end of the load' }),
    })
    log(
      `webhooks-lag: ${Math.round(lag.transfersPerSecond)} transfers/s, lag p50 ${latency.p50} ms, p99 ${latency.p99} ms`,
    )
    if (lag.serverErrors > 0) failures.push(`webhooks-lag: ${lag.serverErrors} responses were 5xx`)
  }
  return rows
}

let exitCode = 1
try {
  exitCode = await main()
} catch (error) {
  if (!aborter.signal.aborted) process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`)
} finally {
  await cleanup()
}
process.exit(aborter.signal.aborted ? 130 : exitCode)
