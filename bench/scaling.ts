import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import autocannon, { type Instance, type RequestParams } from 'autocannon'
import { cpuSnapshot, cpuUse } from './cpu.js'
import { checkpoint, createDatabase, dropDatabase, serverVersion } from './database.js'
import { renderScalingChart, type ScalingPoint } from './scaling-chart.js'
import { transfer } from './scenarios.js'
import { createServiceKey, openContainer, seedFundedWalletsBySql, vacuumAnalyze } from './seed.js'
import { cofferEnv, REPO_ROOT, runCoffer, serveCoffer } from './server.js'

/**
 * `npm run bench:scaling`: transfers/s and p99 of random-pair transfers as the work grows, in one
 * run on one database: at 1, 8, 64 and 256 connections with 10,000 wallets, and at 64 connections
 * with 1,000, 10,000, 100,000 and 1,000,000 wallets. The wallets grow in place (1,000, then more
 * up to 10,000, ...), each step funded by SQL (seedFundedWalletsBySql), so a million take seconds,
 * not the write path's minutes. Writes a markdown table and an SVG chart into bench/results/.
 */
const USAGE = `usage: npm run bench:scaling -- [options]

  --duration <s>      seconds measured per point (default 10)
  --warmup <s>        unmeasured seconds before each point (default 2)
  --max-wallets <n>   largest wallet count measured (default 1000000)
  --pool <n>          DATABASE_POOL_SIZE of coffer serve (default 16)
  --chart <file>      also write the SVG chart here (e.g. docs/performance-scaling.svg)
  --keep              keep the bench database
`

const CONNECTION_LEVELS = [1, 8, 64, 256]
const DEFAULT_WALLETS = 10_000
const WALLET_LEVELS = [1_000, 10_000, 100_000, 1_000_000]
const WALLET_CONNECTIONS = 64

function log(message: string): void {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}

let currentLoad: Instance | null = null

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      'max-wallets': { type: 'string', default: '1000000' },
      pool: { type: 'string', default: '16' },
      chart: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const duration = Number(values.duration)
  const warmup = Number(values.warmup)
  const maxWallets = Number(values['max-wallets'])
  const pool = Number(values.pool)
  if (![duration, maxWallets, pool].every((n) => Number.isInteger(n) && n > 0) || !(warmup >= 0)) {
    process.stderr.write(`bench:scaling: bad option\n\n${USAGE}`)
    return 2
  }
  const serverUrl = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
  const started = new Date()
  const stamp = started.toISOString().replace(/\.\d+Z$/, '')
  const database = `coffer_scaling_${stamp.replace(/[-:]/g, '').replace('T', '_')}`
  const resultsDir = path.join(REPO_ROOT, 'bench', 'results')
  await mkdir(resultsDir, { recursive: true })

  const url = await createDatabase(serverUrl, database)
  const undo: (() => Promise<void>)[] = [
    async () => {
      if (values.keep) log(`kept database ${database}`)
      else await dropDatabase(serverUrl, database)
    },
  ]
  const stop = () => {
    currentLoad?.stop()
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  try {
    const migrated = await runCoffer(['migrate'], cofferEnv(url))
    if (migrated.code !== 0) throw new Error(`coffer migrate failed:\n${migrated.output}`)
    const container = await openContainer(url)
    let apiKey: string
    try {
      apiKey = await createServiceKey(container)
    } finally {
      await container.close()
    }
    const served = await serveCoffer({
      databaseUrl: url,
      poolSize: pool,
      logFile: path.join(resultsDir, `${stamp.replace(/:/g, '-')}.scaling-serve.log`),
    })
    undo.unshift(() => served.stop())
    log(`coffer serve (pid ${served.pid}) at ${served.url}`)
    const auth = { authorization: `Bearer ${apiKey}` }

    const wallets: string[] = []
    const seedings: { wallets: number; seconds: number }[] = []
    const growTo = async (count: number) => {
      if (wallets.length >= count) return
      const began = Date.now()
      const seeding = await openContainer(url)
      try {
        // One by one: spreading 900,000 ids into push() overflows the stack.
        for (const id of await seedFundedWalletsBySql(seeding, count - wallets.length)) wallets.push(id)
        await vacuumAnalyze(seeding)
      } finally {
        await seeding.close()
      }
      const seconds = (Date.now() - began) / 1000
      seedings.push({ wallets: count, seconds })
      log(`${count.toLocaleString('en-US')} funded wallets (seeded and vacuumed in ${seconds.toFixed(1)} s)`)
    }

    const measure = async (connections: number, axis: ScalingPoint['axis']): Promise<ScalingPoint> => {
      const requests = [{ setupRequest: (request: RequestParams) => transfer(request, wallets) }]
      const loadFor = async (seconds: number) => {
        const load = autocannon({ url: served.url, connections, duration: seconds, headers: auth, requests })
        currentLoad = load
        try {
          return await load
        } finally {
          currentLoad = null
        }
      }
      await checkpoint(url)
      if (warmup > 0) await loadFor(warmup)
      const before = await cpuSnapshot(served.pid)
      const result = await loadFor(duration)
      const cpu = cpuUse(before, await cpuSnapshot(served.pid), result.requests.total)
      const point: ScalingPoint = {
        axis,
        connections,
        wallets: wallets.length,
        transfersPerSecond: result['2xx'] / result.duration,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        non2xx: result.non2xx,
        errors: result.errors + result.timeouts,
        cofferCpuMsPerTransfer: cpu?.cofferCpuMsPerRequest ?? null,
        otherCores: cpu?.cores.other ?? null,
      }
      log(
        `${connections} connections, ${wallets.length.toLocaleString('en-US')} wallets: ` +
          `${Math.round(point.transfersPerSecond)} transfers/s, p50 ${point.p50Ms} ms, p99 ${point.p99Ms} ms, ` +
          `non-2xx ${point.non2xx}, errors ${point.errors}`,
      )
      return point
    }

    const points: ScalingPoint[] = []
    const walletLevels = WALLET_LEVELS.filter((n) => n <= maxWallets)
    for (const level of walletLevels.filter((n) => n < DEFAULT_WALLETS)) {
      await growTo(level)
      points.push(await measure(WALLET_CONNECTIONS, 'wallets'))
    }
    await growTo(DEFAULT_WALLETS)
    for (const connections of CONNECTION_LEVELS) {
      const point = await measure(connections, 'connections')
      points.push(point)
      // The 64-connection point at the default wallets is on both axes: measured once.
      if (connections === WALLET_CONNECTIONS) points.push({ ...point, axis: 'wallets' })
    }
    for (const level of walletLevels.filter((n) => n > DEFAULT_WALLETS)) {
      await growTo(level)
      points.push(await measure(WALLET_CONNECTIONS, 'wallets'))
    }
    await sleep(2000)
    await served.stop()
    log('coffer verify on the scaling database')
    const verified = await runCoffer(['verify'], cofferEnv(url))
    const machine = `${os.availableParallelism()} cores ${os.cpus()[0]?.model ?? 'unknown'}, Node ${process.version}, PostgreSQL ${await serverVersion(serverUrl)}`
    const command = [
      'npm run bench:scaling',
      ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : []),
    ].join(' ')
    const table = scalingTable(points)
    const markdown = [
      `Scaling, \`${command}\`, ${started.toISOString()}`,
      '',
      `${machine}; random-pair transfers, ${duration} s per point after ${warmup} s of warm-up, pool ${pool}.`,
      '',
      table,
      '',
      `Seeding (SQL, then VACUUM ANALYZE): ${seedings.map((s) => `${s.wallets.toLocaleString('en-US')} wallets in ${s.seconds.toFixed(1)} s`).join('; ')}.`,
      `coffer verify: ${verified.code === 0 ? 'passed' : 'FAILED'}.`,
      '',
    ].join('\n')
    const base = path.join(resultsDir, `${stamp.replace(/:/g, '-')}.scaling`)
    const svg = renderScalingChart(
      points,
      `Coffer transfers, ${started.toISOString().slice(0, 10)}, ${machine}`,
    )
    await writeFile(`${base}.md`, markdown)
    await writeFile(`${base}.svg`, svg)
    await writeFile(
      `${base}.json`,
      `${JSON.stringify({ command, machine, startedAt: started.toISOString(), points, seedings, verify: verified.output.trim() }, null, 2)}\n`,
    )
    if (values.chart) await writeFile(path.resolve(values.chart), svg)
    process.stdout.write(`\n${markdown}\n${verified.output.trim()}\n`)
    process.stdout.write(
      `results: ${path.relative(REPO_ROOT, base)}.{md,svg,json}${values.chart ? `, chart: ${values.chart}` : ''}\n`,
    )
    return verified.code === 0 ? 0 : 1
  } finally {
    for (const step of undo) {
      try {
        await step()
      } catch (error) {
        process.stderr.write(`bench:scaling: cleanup failed: ${(error as Error).message}\n`)
      }
    }
  }
}

function scalingTable(points: ScalingPoint[]): string {
  const cpu = (p: ScalingPoint) =>
    p.cofferCpuMsPerTransfer === null ? '—' : p.cofferCpuMsPerTransfer.toFixed(3)
  const row = (p: ScalingPoint) =>
    `| ${p.connections} | ${p.wallets.toLocaleString('en-US')} | ${Math.round(p.transfersPerSecond).toLocaleString('en-US')} | ${p.p50Ms} | ${p.p99Ms} | ${p.non2xx} | ${cpu(p)} |`
  const header =
    '| connections | wallets | transfers/s | p50 ms | p99 ms | non-2xx | Coffer CPU ms/transfer |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
  const byConnections = points.filter((p) => p.axis === 'connections')
  const byWallets = points.filter((p) => p.axis === 'wallets')
  return [
    '**As connections grow** (10,000 wallets):',
    '',
    header,
    ...byConnections.map(row),
    '',
    `**As wallets grow** (${WALLET_CONNECTIONS} connections):`,
    '',
    header,
    ...byWallets.map(row),
  ].join('\n')
}

let exitCode = 1
try {
  exitCode = await main()
} catch (error) {
  process.stderr.write(`bench:scaling: ${(error as Error).stack ?? String(error)}\n`)
}
process.exit(exitCode)
