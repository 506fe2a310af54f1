import { mkdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon, { type Instance, type RequestParams } from 'autocannon'
import type { Container } from '../src/container.js'
import { type CpuUse, cpuSnapshot, cpuUse } from './cpu.js'
import {
  checkpoint,
  createDatabase,
  type DatabaseCounters,
  databaseCounters,
  dropDatabase,
  redactUrl,
  serverVersion,
} from './database.js'
import { type BenchOptions, parseOptions, type ScenarioName, UsageError, usage } from './options.js'
import { type PgbenchFigure, pgbenchAvailable, preparePgbenchDatabase, runPgbench } from './pgbench.js'
import { formatProfileSummary, type ProfileSummary, summarizeProfileFile } from './profile.js'
import { type BenchReport, formatNotes, formatTable, type ScenarioResult } from './report.js'
import { type BenchTarget, SCENARIOS } from './scenarios.js'
import {
  createServiceKey,
  type DeepWallet,
  openContainer,
  seedDeepWallet,
  seedWallets,
  vacuumAnalyze,
} from './seed.js'
import { cofferEnv, REPO_ROOT, runCoffer, type ServedCoffer, serveCoffer } from './server.js'

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

const WRITE_SCENARIOS: ScenarioName[] = ['transfers', 'hot-wallet', 'hot-merchant']

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
    options: { ...options, databaseUrl: redactUrl(options.databaseUrl) },
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

  const needsWallets = options.scenarios.some((s) => s !== 'history-deep')
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
  if (options.scenarios.includes('history-deep')) {
    const began = Date.now()
    deep = await seedDeepWallet(container, options.deepEntries)
    report.seed.deepWallet = { entries: deep.entries, seconds: (Date.now() - began) / 1000 }
    log(`seeded a wallet with ${deep.entries} entries in ${((Date.now() - began) / 1000).toFixed(1)} s`)
  }
  const vacuumStarted = Date.now()
  await vacuumAnalyze(container)
  log(`vacuum and analyze in ${((Date.now() - vacuumStarted) / 1000).toFixed(1)} s`)
  await container.close()
  container = null

  // The ceiling: pgbench doing a transfer's SQL on the same server, before Coffer runs.
  const pgbenchModes = [
    ...new Set(
      options.scenarios.flatMap((s) => (WRITE_SCENARIOS.includes(s) ? [SCENARIOS[s].pgbench!] : [])),
    ),
  ]
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
  }
  const auth = { authorization: `Bearer ${apiKey}` }
  await preflight(served, auth, target)

  for (const name of options.scenarios) {
    if (aborter.signal.aborted) break
    const result = await measureScenario(name, options, served, auth, target, report.pgbench, benchUrl)
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

  // autocannon hangs up on requests still in flight when a run ends; let the server finish them
  // before it shuts down, or they fail on closed pools and litter the log.
  await sleep(DRAIN_MS)
  await served.stop()
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

  log('coffer verify on the bench database')
  const verified = await runCoffer(['verify'], cofferEnv(benchUrl), aborter.signal)
  report.verify = { ok: verified.code === 0, output: verified.output.trim() }
  if (verified.code !== 0) failures.push('coffer verify found invariant violations')

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
  process.stdout.write(`${formatTable(report)}\n`)
  const notes = formatNotes(report)
  if (notes) process.stdout.write(`\n${notes}\n`)
  process.stdout.write(
    '\n  req/s counts every response; Coffer/pgbench divides 2xx per second by pgbench transactions per second.\n',
  )
  if (profile) process.stdout.write(`\n${formatProfileSummary(profile)}\n`)
  process.stdout.write(`\n${report.verify.output}\n`)
  process.stdout.write(`results: ${path.relative(REPO_ROOT, resultsFile)}\n`)
  for (const failure of failures) process.stdout.write(`FAILED: ${failure}\n`)
  return failures.length === 0 ? 0 : 1
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
  modes: ('random' | 'hot')[],
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
  const figures: Partial<Record<'random' | 'hot', PgbenchFigure & { cpu: CpuUse | null }>> = {}
  for (const mode of modes) {
    await checkpoint(url)
    log(`pgbench ${mode}: ${options.connections} clients for ${options.pgbenchDuration} s`)
    const running = runPgbench({
      url,
      mode,
      clients: options.connections,
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

/** Fails fast, with the answer, when the harness cannot work: better than a table of errors. */
async function preflight(
  served: ServedCoffer,
  auth: Record<string, string>,
  target: BenchTarget,
): Promise<void> {
  const wallet = target.wallets[0]
  if (wallet) {
    const read = await send(served, auth, { method: 'GET', path: `/api/v1/wallets/${wallet}`, headers: {} })
    if (read.status !== 200) throw new Error(`GET /api/v1/wallets/{id} answered ${read.status}: ${read.body}`)
  }
  if (target.deep) {
    const base = `/api/v1/wallets/${target.deep.id}/transactions`
    for (const pagePath of [base, `${base}?cursor=${target.deep.middleCursor}`]) {
      const page = await send(served, auth, { method: 'GET', path: pagePath, headers: {} })
      const items = page.status === 200 ? (JSON.parse(page.body) as { items: unknown[] }).items.length : 0
      if (items === 0)
        throw new Error(`GET ${pagePath} answered ${page.status} with no items: ${page.body.slice(0, 500)}`)
    }
  }
}

function problemCode(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { code?: string }).code
  } catch {
    return undefined
  }
}

async function measureScenario(
  name: ScenarioName,
  options: BenchOptions,
  served: ServedCoffer,
  auth: Record<string, string>,
  target: BenchTarget,
  pgbench: BenchReport['pgbench'],
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
  const loadFor = async (duration: number) => {
    const load = autocannon({
      url: served.url,
      connections: options.connections,
      duration,
      headers: auth,
      requests: scenario.requests(target),
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
  const result = await loadFor(options.duration)
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
  const okPerSecond = result['2xx'] / result.duration
  const ceiling = scenario.pgbench ? (pgbench[scenario.pgbench] ?? null) : null
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
    pgbench: ceiling && { mode: ceiling.mode, tps: ceiling.tps },
    ratio: ceiling ? okPerSecond / ceiling.tps : null,
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

let exitCode = 1
try {
  exitCode = await main()
} catch (error) {
  if (!aborter.signal.aborted) process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`)
} finally {
  await cleanup()
}
process.exit(aborter.signal.aborted ? 130 : exitCode)
