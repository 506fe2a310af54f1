import { type CpuUse, formatCpuUse, type RssSamples } from './cpu.js'
import type { HttpCeiling } from './http-ceiling.js'
import type { PgbenchFigure } from './pgbench.js'
import type { PointsExpiryFigures } from './points.js'
import type { StatementFigures } from './statement.js'

export type { PointsExpiryFigures, StatementFigures }

export interface ScenarioResult {
  name: string
  description: string
  status: 'measured' | 'not available'
  /** Why the scenario did not run, e.g. the route answered 404. */
  note?: string
  seconds?: number
  /** Every response, whatever its status, per second. */
  requestsPerSecond?: number
  /** 2xx responses per second (bulk: succeeded transfers per second): what the ratio compares. */
  okPerSecond?: number
  /** bulk: batches answered 200 per second. */
  batchesPerSecond?: number
  /** A fixed-rate scenario's offered requests per second. */
  offeredPerSecond?: number
  /** VmRSS of coffer serve sampled over the measured window. */
  rss?: RssSamples | null
  latencyMs?: { p50: number; p99: number; max: number; average: number }
  requests?: number
  non2xx?: number
  errors?: number
  timeouts?: number
  statusCodes?: Record<string, number>
  /** What bounds the row, in the row's own unit per second (pgbench: tps × transfers per commit). */
  ceiling?: { kind: 'http' | 'random' | 'hot' | 'batched'; perSecond: number } | null
  /** okPerSecond / ceiling.perSecond. */
  ratio?: number | null
  cpu?: CpuUse | null
  /** From pg_stat_database and pg_stat_wal; WAL is cluster-wide, so other databases' work counts too. */
  database?: {
    commitsPerRequest: number | null
    rollbacksPerRequest: number | null
    walBytesPerRequest: number | null
  }
}

export interface BenchReport {
  startedAt: string
  command: string
  machine: {
    cpus: number
    cpuModel: string
    memoryGiB: number
    node: string
    postgres: string
    platform: string
    loadAverageAtStart: number[]
  }
  options: Record<string, unknown>
  seed: Record<string, unknown>
  pgbench: {
    available: boolean
    random?: PgbenchFigure & { cpu: CpuUse | null }
    hot?: PgbenchFigure & { cpu: CpuUse | null }
    batched?: PgbenchFigure & { cpu: CpuUse | null }
    note?: string
  }
  /** The bare node:http server under the read scenarios' autocannon settings. */
  httpCeiling?: HttpCeiling | { unavailable: string }
  /** Issue 15's targets, each with what this run measured. */
  targets?: TargetCheck[]
  scenarios: ScenarioResult[]
  /** relay and operations, measured against a `coffer start` on RabbitMQ: the second table. */
  events?: EventRow[]
  /** `reads` measured again with the Redis balance cache on: 2xx/s with it over 2xx/s without. */
  balanceCache?: {
    offOkPerSecond: number
    onOkPerSecond: number
    ratio: number
    p99OffMs: number
    p99OnMs: number
  }
  /** points (earn/spend mixed) 2xx/s over withdrawals 2xx/s, both of this run. */
  pointsVsWithdrawals?: {
    pointsOkPerSecond: number
    withdrawalsOkPerSecond: number
    ratio: number
    pointsP99Ms: number
    withdrawalsP99Ms: number
  }
  pointsExpiry?: PointsExpiryFigures
  /** The statement scenario: a one-year statement of the deep wallet as CSV, then PDF, by `coffer worker`. */
  statements?: StatementFigures[]
  serveLog?: { file: string; errorLines: number }
  verify: { ok: boolean; output: string } | null
  failures: string[]
  profile?: unknown
}

/** Cores used by unrelated processes above which a run is flagged as disturbed. */
const OTHER_LOAD_WARNING = 0.2

const round = (value: number, digits = 0) => {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

function cell(value: number | null | undefined, digits = 0): string {
  return value === null || value === undefined ? '—' : round(value, digits).toLocaleString('en-US')
}

export const CEILING_LABELS = {
  http: 'bare http',
  random: 'pgbench random',
  hot: 'pgbench hot',
  batched: 'pgbench ×100/commit',
} as const

/** A fixed-width table: numbers right-aligned, the first column left-aligned. */
export function formatTable(report: BenchReport): string {
  const header = [
    'scenario',
    'req/s',
    'p50 ms',
    'p99 ms',
    'max ms',
    'non-2xx',
    'errors',
    'ok/s',
    'ceiling/s',
    'ratio',
    'CPU ms/req',
  ]
  const rows = report.scenarios.map((s) =>
    s.status === 'not available'
      ? [s.name, 'not available', '', '', '', '', '', '', '', '', '']
      : [
          s.name,
          cell(s.requestsPerSecond),
          cell(s.latencyMs?.p50),
          cell(s.latencyMs?.p99),
          cell(s.latencyMs?.max),
          cell(s.non2xx),
          cell((s.errors ?? 0) + (s.timeouts ?? 0)),
          cell(s.okPerSecond),
          s.ceiling ? `${cell(s.ceiling.perSecond)} (${CEILING_LABELS[s.ceiling.kind]})` : '—',
          s.ratio === null || s.ratio === undefined ? '—' : `${round(s.ratio, 2).toFixed(2)}`,
          s.cpu?.cofferCpuMsPerRequest == null ? '—' : s.cpu.cofferCpuMsPerRequest.toFixed(3),
        ],
  )
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || c === 'not available' ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

export function formatNotes(report: BenchReport): string {
  const notes: string[] = []
  for (const s of report.scenarios) {
    if (s.note) notes.push(`${s.name}: ${s.note}`)
    if (s.cpu) notes.push(`${s.name}: ${formatCpuUse(s.cpu)}`)
    const db = s.database
    if (db && db.commitsPerRequest !== null) {
      notes.push(
        `${s.name}: per request ${cell(db.commitsPerRequest, 2)} commits, ${cell(db.rollbacksPerRequest, 2)} rollbacks` +
          (db.walBytesPerRequest === null ? '' : `, ${cell(db.walBytesPerRequest)} bytes of WAL`),
      )
    }
    if (s.non2xx && s.statusCodes) {
      const codes = Object.entries(s.statusCodes)
        .filter(([code]) => !code.startsWith('2'))
        .map(([code, count]) => `${code} x${count}`)
      notes.push(`${s.name}: non-2xx responses ${codes.join(', ')}`)
    }
  }
  const disturbed = report.scenarios.filter((s) => (s.cpu?.cores.other ?? 0) > OTHER_LOAD_WARNING)
  if (disturbed.length > 0) {
    notes.push(
      `WARNING: other processes kept more than ${OTHER_LOAD_WARNING} of a core busy during ${disturbed.map((s) => s.name).join(', ')}: those figures understate Coffer`,
    )
  }
  for (const s of report.scenarios) {
    if (s.rss)
      notes.push(
        `${s.name}: coffer serve VmRSS ${Math.round(s.rss.startMB)} → peak ${Math.round(s.rss.peakMB)} MB (${s.rss.samples} samples)`,
      )
    if (
      s.batchesPerSecond !== undefined &&
      s.cpu?.cofferCpuMsPerRequest != null &&
      s.okPerSecond &&
      s.requestsPerSecond
    )
      notes.push(
        `${s.name}: ${cell(s.batchesPerSecond, 1)} batches/s, ${cell(s.okPerSecond)} transfers/s; coffer CPU ` +
          `${((s.cpu.cofferCpuMsPerRequest * s.requestsPerSecond) / s.okPerSecond).toFixed(3)} ms per transfer`,
      )
    if (s.offeredPerSecond !== undefined)
      notes.push(`${s.name}: offered ${cell(s.offeredPerSecond)}/s (autocannon overallRate)`)
  }
  const http = report.httpCeiling
  if (http && 'unavailable' in http) notes.push(`http ceiling: not measured: ${http.unavailable}`)
  else if (http)
    notes.push(
      `http ceiling: bare node:http answering a fixed ${http.bodyBytes}-byte JSON body: ${cell(http.requestsPerSecond)} req/s, ` +
        `p50 ${http.latencyMs.p50} ms, p99 ${http.latencyMs.p99} ms (${http.connections} connections, ${http.seconds} s)` +
        (http.cpu?.cofferCpuMsPerRequest == null
          ? ''
          : `; its CPU ${http.cpu.cofferCpuMsPerRequest.toFixed(3)} ms per request`),
    )
  if (report.pgbench.note) notes.push(`pgbench: ${report.pgbench.note}`)
  for (const mode of ['random', 'hot', 'batched'] as const) {
    const figure = report.pgbench[mode]
    if (figure) {
      const perCommit =
        figure.transfersPerCommit > 1
          ? ` × ${figure.transfersPerCommit} transfers = ${cell(figure.tps * figure.transfersPerCommit)} transfers/s`
          : ''
      notes.push(
        `pgbench ${mode}: ${cell(figure.tps, figure.transfersPerCommit > 1 ? 1 : 0)} tps${perCommit}, latency average ${cell(figure.latencyAverageMs, 1)} ms, ` +
          `${figure.transactions.toLocaleString('en-US')} transactions, ${figure.failed} failed (${figure.clients} clients, ${figure.seconds} s)`,
      )
      if (figure.cpu) notes.push(`pgbench ${mode}: ${formatCpuUse(figure.cpu)}`)
    }
  }
  return notes.map((n) => `  ${n}`).join('\n')
}

/** One row of the events table (relay drain, relay lag, operations). */
export interface EventRow {
  name: string
  status: 'measured' | 'not available'
  note?: string
  /** What `rate` counts, e.g. `events/s published`. */
  unit: string
  rate: number | null
  /** The latency of the row: lag from commit to delivery, or 202 to succeeded. */
  latencyMs: { p50: number | null; p99: number | null; max: number | null; samples: number } | null
  goal: string
  goalMet: boolean | null
  /** Counts behind the figures. */
  details: Record<string, unknown>
}

export function formatEventsTable(rows: EventRow[]): string {
  const header = ['scenario', 'rate', 'unit', 'p50 ms', 'p99 ms', 'max ms', 'goal', 'met']
  const cellsOf = (r: EventRow) =>
    r.status === 'not available'
      ? [r.name, 'not available', '', '', '', '', r.goal, '']
      : [
          r.name,
          cell(r.rate),
          r.unit,
          cell(r.latencyMs?.p50, 1),
          cell(r.latencyMs?.p99, 1),
          cell(r.latencyMs?.max, 1),
          r.goal,
          r.goalMet === null ? '—' : r.goalMet ? 'yes' : 'no',
        ]
  const body = rows.map(cellsOf)
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)))
  const left = new Set([0, 2, 6])
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (left.has(i) || c === 'not available' ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd()
  const notes = rows.filter((r) => r.note).map((r) => `  ${r.name}: ${r.note}`)
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), ...notes].join('\n')
}

export function formatPointsExpiry(f: PointsExpiryFigures): string {
  return [
    `points-expiry: ${f.lots.toLocaleString('en-US')} lots over ${f.accounts.toLocaleString('en-US')} accounts expired in ` +
      `${f.seconds.toFixed(1)} s (${Math.round(f.lotsPerSecond).toLocaleString('en-US')} lots/s), ${f.dueAfter} left due`,
    `  spends meanwhile: ${f.spends.ok} ok of ${f.spends.sent}, p50 ${f.spends.p50} ms, p99 ${f.spends.p99} ms, max ${f.spends.max} ms`,
    `  goal ${f.goal}: ${f.goalMet ? 'met' : 'not met'}`,
  ].join('\n')
}

/** A row per statement job, then what lies behind the figures. */
export function formatStatements(rows: StatementFigures[]): string {
  const details = rows.flatMap((r) => {
    if (r.status !== 'done') return []
    const parts = [
      r.pickupSeconds === null ? null : `picked up ${r.pickupSeconds.toFixed(2)} s after the request`,
      r.workerCpuSeconds === null ? null : `worker CPU ${r.workerCpuSeconds.toFixed(2)} s`,
      r.rss
        ? `worker RSS ${Math.round(r.rss.beforeMB)} → ${Math.round(r.rss.peakMB)} MB (${r.rss.samples} samples)` +
          (r.rss.kernelPeakGrowthMB === null
            ? ''
            : `, kernel peak +${Math.round(r.rss.kernelPeakGrowthMB)} MB`)
        : null,
      r.download
        ? `download ${r.download.sha256Matches ? 'matches' : 'does NOT match'} the job's SHA-256` +
          (r.download.records === null ? '' : `, ${r.download.records.toLocaleString('en-US')} records`)
        : null,
    ]
    const cpu = r.cpu ? [`  statement ${r.format}: ${formatCpuUse(r.cpu)} (coffer: the worker)`] : []
    return [`  statement ${r.format}: ${parts.filter((p) => p !== null).join('; ')}`, ...cpu]
  })
  const disturbed = rows.filter((r) => (r.cpu?.cores.other ?? 0) > OTHER_LOAD_WARNING).map((r) => r.format)
  const warning =
    disturbed.length > 0
      ? [
          `  WARNING: other processes kept more than ${OTHER_LOAD_WARNING} of a core busy during statement ${disturbed.join(', ')}: those times overstate the worker's`,
        ]
      : []
  return [...rows.map(formatStatementRow), ...details, ...warning].join('\n')
}

const megabytes = (n: number) => n.toFixed(n >= 10 ? 0 : 1)

/** `statement csv 100,000 lines: 0.84 s to done (worker 0.61 s), 9.8 MB, worker RSS +42 MB — aim ≤ 1 s, ≤ 100 MB: met` */
export function formatStatementRow(row: StatementFigures): string {
  const lines = (row.lines ?? row.expectedLines).toLocaleString('en-US')
  const head = `statement ${row.format} ${lines} lines`
  const aim = `aim ≤ ${row.aim.seconds} s, ≤ ${row.aim.rssGrowthMB} MB`
  if (row.status !== 'done') return `${head}: ${row.status}${row.note ? ` (${row.note})` : ''} — ${aim}`
  const worker = row.workerSeconds === null ? '' : ` (worker ${row.workerSeconds.toFixed(2)} s)`
  const rss = row.rss ? `, worker RSS +${megabytes(row.rss.growthMB)} MB` : ', worker RSS not sampled'
  const verdict =
    row.goalMet === null
      ? ` (the aim is for ${row.aim.lines.toLocaleString('en-US')} lines)`
      : row.goalMet
        ? ': met'
        : ': not met'
  return `${head}: ${row.secondsToDone!.toFixed(2)} s to done${worker}, ${megabytes((row.bytes ?? 0) / 1e6)} MB${rss} — ${aim}${verdict}`
}

/** One of issue 15's targets: what it asks, what this run measured, whether that meets it. */
export interface TargetCheck {
  target: string
  measured: string
  met: boolean | null
}

const TARGETS = {
  readsRatio: 0.3,
  readCpuMs: 0.15,
  transfersRatio: 1.5,
  transferCpuMs: 0.3,
  hotRatio: 5,
  fixedRateP99Ms: 20,
  deepOverShallowP99: 1.2,
  rssMB: 250,
  bulkPerSecond: 10_000,
  bulkRatio: 0.7,
} as const

/** Issue 15's targets against this run's rows; a target whose rows did not run is null, not met. */
export function checkTargets(report: BenchReport): TargetCheck[] {
  const row = (name: string) => report.scenarios.find((s) => s.name === name && s.status === 'measured')
  const ratio = (n: number | null | undefined) => (n === null || n === undefined ? null : round(n, 2))
  const checks: TargetCheck[] = []
  const add = (target: string, value: number | null, unit: string, met: (v: number) => boolean) =>
    checks.push({
      target,
      measured: value === null ? 'not measured' : `${value.toLocaleString('en-US')}${unit}`,
      met: value === null ? null : met(value),
    })
  const cpuMs = (name: string) => {
    const ms = row(name)?.cpu?.cofferCpuMsPerRequest
    return ms === null || ms === undefined ? null : round(ms, 3)
  }
  add(
    `reads ≥ ${TARGETS.readsRatio}× the HTTP ceiling`,
    ratio(row('reads')?.ratio),
    '×',
    (v) => v >= TARGETS.readsRatio,
  )
  add(
    `reads: Coffer CPU ≤ ${TARGETS.readCpuMs} ms per read`,
    cpuMs('reads'),
    ' ms',
    (v) => v <= TARGETS.readCpuMs,
  )
  add(
    `transfers ≥ ${TARGETS.transfersRatio}× pgbench per-commit random`,
    ratio(row('transfers')?.ratio),
    '×',
    (v) => v >= TARGETS.transfersRatio,
  )
  add(
    `transfers: Coffer CPU ≤ ${TARGETS.transferCpuMs} ms per transfer`,
    cpuMs('transfers'),
    ' ms',
    (v) => v <= TARGETS.transferCpuMs,
  )
  add(
    `hot wallet ≥ ${TARGETS.hotRatio}× pgbench hot`,
    ratio(row('hot-wallet')?.ratio),
    '×',
    (v) => v >= TARGETS.hotRatio,
  )
  const fixed = row('transfers-1000')
  const kept =
    fixed?.offeredPerSecond && fixed.okPerSecond !== undefined
      ? fixed.okPerSecond >= 0.95 * fixed.offeredPerSecond
      : null
  checks.push({
    target: `p99 ≤ ${TARGETS.fixedRateP99Ms} ms at a fixed offered 1,000 transfers/s`,
    measured: fixed?.latencyMs
      ? `p99 ${fixed.latencyMs.p99} ms at ${cell(fixed.okPerSecond)} 2xx/s`
      : 'not measured',
    met: fixed?.latencyMs ? fixed.latencyMs.p99 <= TARGETS.fixedRateP99Ms && kept === true : null,
  })
  const deep = row('history-deep')?.latencyMs?.p99
  const shallow = row('history-shallow')?.latencyMs?.p99
  checks.push({
    target: `history-deep p99 ≤ ${TARGETS.deepOverShallowP99}× a ${'100'}-entry wallet's`,
    measured:
      deep === undefined || shallow === undefined
        ? 'not measured'
        : `${deep} ms / ${shallow} ms = ${shallow > 0 ? `${round(deep / shallow, 2)}×` : '∞'}`,
    met:
      deep === undefined || shallow === undefined
        ? null
        : deep <= TARGETS.deepOverShallowP99 * Math.max(shallow, 1),
  })
  const rss = row('transfers')?.rss?.peakMB
  add(
    `coffer serve RSS ≤ ${TARGETS.rssMB} MB under transfers`,
    rss === undefined ? null : Math.round(rss),
    ' MB',
    (v) => v <= TARGETS.rssMB,
  )
  const bulk = row('bulk')
  add(
    `bulk ≥ ${TARGETS.bulkPerSecond.toLocaleString('en-US')} transfers/s`,
    bulk?.okPerSecond === undefined ? null : Math.round(bulk.okPerSecond),
    ' transfers/s',
    (v) => v >= TARGETS.bulkPerSecond,
  )
  add(
    `bulk ≥ ${TARGETS.bulkRatio}× the batched SQL floor`,
    ratio(bulk?.ratio),
    '×',
    (v) => v >= TARGETS.bulkRatio,
  )
  return checks
}

export function formatTargets(checks: TargetCheck[]): string {
  const width = Math.max(...checks.map((c) => c.target.length))
  return [
    'targets (issue 15):',
    ...checks.map(
      (c) =>
        `  [${c.met === null ? ' ' : c.met ? 'x' : ' '}] ${c.target.padEnd(width)}  ${c.measured}  ${c.met === null ? '(not run)' : c.met ? 'met' : 'NOT MET'}`,
    ),
  ].join('\n')
}
