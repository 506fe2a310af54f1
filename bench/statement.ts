import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { type CpuUse, cpuSnapshot, cpuUse } from './cpu.js'
import { withClient } from './database.js'
import { outboxBacklog } from './events.js'
import { formatStatementRow } from './report.js'
import { DEEP_ENTRY_SPACING_SECONDS } from './seed.js'

/** The aim of issue 14: a one-year statement of 100,000 lines. */
export const STATEMENT_LINES = 100_000
const PERIOD_DAYS = 365
const DAY_MS = 86_400_000
export const STATEMENT_AIMS = { csv: 1, pdf: 3 } as const
export const STATEMENT_AIM_RSS_MB = 100
/** How often the job is polled and the worker's RSS sampled. */
const SAMPLE_MS = 20
const JOB_TIMEOUT_MS = 300_000
/** The worker at rest before a request: no outbox left to relay, its start-up jobs run. */
const SETTLE_MS = 1000
const SETTLE_TIMEOUT_MS = 60_000
/** MB of 10^6 bytes, for files and RSS alike. */
const MB = 1e6

export type StatementFormatName = 'csv' | 'pdf'

export interface StatementFigures {
  format: StatementFormatName
  status: 'done' | 'failed' | 'timed out' | 'not available'
  note?: string
  jobId: string | null
  period: { from: string; to: string }
  /** Lines of the deep wallet in the period, counted in the database by the bench. */
  expectedLines: number
  /** The job's progress.linesTotal. */
  lines: number | null
  /** From sending the request to the poll that saw `done`. */
  secondsToDone: number | null
  /** The worker's own generation time: finishedAt − startedAt. */
  workerSeconds: number | null
  /** From the job's createdAt to its startedAt: the worker's poll interval, mostly. */
  pickupSeconds: number | null
  bytes: number | null
  sha256: string | null
  fingerprint: string | null
  rss: {
    beforeMB: number
    peakMB: number
    growthMB: number
    samples: number
    /** Peak RSS by the kernel (VmHWM, reset through clear_refs before the request), when it could be reset. */
    kernelPeakGrowthMB: number | null
  } | null
  /** Cores busy from the request to done; `coffer` is the worker (the API process counts as other). */
  cpu: CpuUse | null
  /**
   * CPU time the worker spent on the job (its cores busy × time to done): on a machine busy with
   * other work, what the job costs when the wall-clock times do not say.
   */
  workerCpuSeconds: number | null
  /** The downloaded file: its SHA-256 against the job's, and for CSV its records against `lines`. */
  download: { bytes: number; sha256Matches: boolean; records: number | null } | null
  aim: { lines: number; seconds: number; rssGrowthMB: number }
  /** Only for a statement of aim.lines lines: a smaller one says nothing of the aim. */
  goalMet: boolean | null
}

interface JobView {
  id: string
  status: 'queued' | 'running' | 'done' | 'failed'
  progress: { linesDone: number; linesTotal: number | null }
  file: { url: string; size: number; sha256: string } | null
  fingerprint: string | null
  error: string | null
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
}

/** VmRSS and VmHWM of a process, in kB (Linux); null elsewhere or once it is gone. */
async function memoryOf(pid: number): Promise<{ rssKb: number; hwmKb: number } | null> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => null)
  if (status === null) return null
  const rss = /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
  const hwm = /VmHWM:\s+(\d+) kB/.exec(status)?.[1]
  return rss === undefined || hwm === undefined ? null : { rssKb: Number(rss), hwmKb: Number(hwm) }
}

/** Resets the process's VmHWM to its current RSS ("5" to clear_refs, Linux 4.0+); false when not allowed. */
async function resetPeak(pid: number): Promise<boolean> {
  return writeFile(`/proc/${pid}/clear_refs`, '5').then(
    () => true,
    () => false,
  )
}

/** Samples the RSS every SAMPLE_MS until stopped: the peak a job reached. */
function sampleRss(pid: number): { stop(): Promise<{ peakKb: number; samples: number }> } {
  let peakKb = 0
  let samples = 0
  let running = true
  const loop = (async () => {
    while (running) {
      const memory = await memoryOf(pid)
      if (memory) {
        peakKb = Math.max(peakKb, memory.rssKb)
        samples += 1
      }
      await sleep(SAMPLE_MS)
    }
  })()
  return {
    stop: async () => {
      running = false
      await loop
      return { peakKb, samples }
    },
  }
}

/**
 * The period of the scenario: the year that ends just after the deep wallet's newest entry. The
 * seed spaces the deep wallet's deposits DEEP_ENTRY_SPACING_SECONDS apart, so it holds the newest
 * min(STATEMENT_LINES, deep entries) of them; the bench counts them in the database all the same,
 * and the job must say as many.
 */
async function periodOf(
  benchUrl: string,
  walletId: string,
): Promise<{ from: Date; to: Date; expectedLines: number }> {
  return withClient(benchUrl, async (client) => {
    const newest = await client.query<{ at: Date }>(
      'select max(created_at) as at from entries where account_id = $1',
      [walletId],
    )
    const at = newest.rows[0]?.at
    if (!at) throw new Error('statement: the deep wallet has no entries')
    // A second past the newest: `to` is exclusive, and the spacing is far more than a second.
    const to = new Date(Math.floor(at.getTime() / 1000) * 1000 + 1000)
    const from = new Date(to.getTime() - PERIOD_DAYS * DAY_MS)
    const counted = await client.query<{ n: number }>(
      'select count(*)::int as n from entries where account_id = $1 and created_at >= $2 and created_at < $3',
      [walletId, from, to],
    )
    return { from, to, expectedLines: counted.rows[0]?.n ?? 0 }
  })
}

/** Waits until the worker has nothing else to do: the outbox relayed, its first job runs over. */
async function settle(benchUrl: string): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS
  while ((await outboxBacklog(benchUrl)) > 0 && Date.now() < deadline) await sleep(100)
  await sleep(SETTLE_MS)
}

/** Streams the file, hashing it and counting its newlines (a record each: bench descriptions hold none). */
async function download(
  apiUrl: string,
  auth: Record<string, string>,
  job: JobView,
): Promise<{ bytes: number; sha256: string; newlines: number }> {
  const response = await fetch(`${apiUrl}${job.file!.url}`, { headers: auth })
  if (response.status !== 200 || !response.body)
    throw new Error(`GET ${job.file!.url} answered ${response.status}: ${await response.text()}`)
  const hash = createHash('sha256')
  let bytes = 0
  let newlines = 0
  for await (const chunk of response.body) {
    hash.update(chunk)
    bytes += chunk.length
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) newlines += 1
  }
  return { bytes, sha256: hash.digest('hex'), newlines }
}

const seconds = (from: string | null, to: string | null) =>
  from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : null

function blankFigures(
  format: StatementFormatName,
  period: { from: Date; to: Date; expectedLines: number },
): StatementFigures {
  return {
    format,
    status: 'failed',
    jobId: null,
    period: { from: period.from.toISOString(), to: period.to.toISOString() },
    expectedLines: period.expectedLines,
    lines: null,
    secondsToDone: null,
    workerSeconds: null,
    pickupSeconds: null,
    bytes: null,
    sha256: null,
    fingerprint: null,
    rss: null,
    cpu: null,
    workerCpuSeconds: null,
    download: null,
    aim: { lines: STATEMENT_LINES, seconds: STATEMENT_AIMS[format], rssGrowthMB: STATEMENT_AIM_RSS_MB },
    goalMet: null,
  }
}

interface Context {
  apiUrl: string
  auth: Record<string, string>
  benchUrl: string
  walletId: string
  workerPid: number
}

/**
 * One statement job as a user meets it: GET /wallets/{id}/statement through the served API
 * (202 and a job, the period being a year), GET /statements/{id} every SAMPLE_MS until done
 * while the separate `coffer worker` generates it, its RSS sampled as often; then the file
 * downloaded and checked against the job's SHA-256. Fills in `figures` as it goes.
 */
async function measureOne(figures: StatementFigures, context: Context): Promise<void> {
  const { apiUrl, auth, benchUrl, walletId, workerPid } = context
  const { format } = figures
  await settle(benchUrl)
  const kernelPeak = await resetPeak(workerPid)
  const before = await memoryOf(workerPid)
  const cpuBefore = await cpuSnapshot(workerPid)
  const sampler = sampleRss(workerPid)
  const query = new URLSearchParams({ from: figures.period.from, to: figures.period.to, format })
  const requestedAt = performance.now()
  let job: JobView
  try {
    const response = await fetch(`${apiUrl}/api/v1/wallets/${walletId}/statement?${query}`, { headers: auth })
    const body = await response.text()
    if (response.status === 404 && body.includes('"not_found"')) {
      figures.status = 'not available'
      figures.note = 'the statement route answered 404'
      return
    }
    if (response.status !== 202)
      throw new Error(
        `GET /wallets/{id}/statement answered ${response.status}, not 202: ${body.slice(0, 500)}`,
      )
    job = JSON.parse(body) as JobView
    figures.jobId = job.id
    const deadline = requestedAt + JOB_TIMEOUT_MS
    while (job.status === 'queued' || job.status === 'running') {
      if (performance.now() > deadline) {
        figures.status = 'timed out'
        figures.note = `not done within ${JOB_TIMEOUT_MS / 1000} s (${job.status}, ${job.progress.linesDone} lines)`
        return
      }
      await sleep(SAMPLE_MS)
      const polled = await fetch(`${apiUrl}/api/v1/statements/${job.id}`, { headers: auth })
      if (polled.status !== 200)
        throw new Error(`GET /statements/${job.id} answered ${polled.status}: ${await polled.text()}`)
      job = (await polled.json()) as JobView
    }
    figures.secondsToDone = (performance.now() - requestedAt) / 1000
  } finally {
    const sampled = await sampler.stop()
    figures.cpu = cpuUse(cpuBefore, await cpuSnapshot(workerPid), null)
    const after = await memoryOf(workerPid)
    if (before && sampled.samples > 0) {
      const peakKb = Math.max(sampled.peakKb, after?.rssKb ?? 0)
      figures.rss = {
        beforeMB: (before.rssKb * 1024) / MB,
        peakMB: (peakKb * 1024) / MB,
        growthMB: ((peakKb - before.rssKb) * 1024) / MB,
        samples: sampled.samples,
        kernelPeakGrowthMB: kernelPeak && after ? ((after.hwmKb - before.rssKb) * 1024) / MB : null,
      }
    }
  }
  if (figures.cpu && figures.secondsToDone !== null)
    figures.workerCpuSeconds = figures.cpu.cores.coffer * figures.secondsToDone
  figures.lines = job.progress.linesTotal
  figures.workerSeconds = seconds(job.startedAt, job.finishedAt)
  figures.pickupSeconds = seconds(job.createdAt, job.startedAt)
  figures.fingerprint = job.fingerprint
  if (job.status === 'failed' || !job.file) {
    figures.note = `the job failed: ${job.error ?? 'no file'}`
    return
  }
  figures.status = 'done'
  figures.bytes = job.file.size
  figures.sha256 = job.file.sha256
  const file = await download(apiUrl, auth, job)
  figures.download = {
    bytes: file.bytes,
    sha256Matches: file.sha256 === job.file.sha256,
    // A header record, then one record per line, each ended by CRLF.
    records: format === 'csv' ? file.newlines - 1 : null,
  }
  if (figures.lines === figures.aim.lines && figures.secondsToDone !== null && figures.rss)
    figures.goalMet =
      figures.secondsToDone <= figures.aim.seconds && figures.rss.growthMB <= figures.aim.rssGrowthMB
}

/** What went wrong with the jobs, for the run's failures: the aims are figures, not failures. */
export function statementFailures(rows: StatementFigures[]): string[] {
  const failures: string[] = []
  for (const row of rows) {
    const name = `statement ${row.format}`
    if (row.status === 'not available') continue
    if (row.status !== 'done') {
      failures.push(`${name}: ${row.note ?? row.status}`)
      continue
    }
    if (row.lines !== row.expectedLines)
      failures.push(`${name}: the job has ${row.lines} lines, the period holds ${row.expectedLines}`)
    if (!row.download?.sha256Matches) failures.push(`${name}: the downloaded file's SHA-256 is not the job's`)
    if (row.download && row.download.bytes !== row.bytes)
      failures.push(`${name}: downloaded ${row.download.bytes} bytes, the job says ${row.bytes}`)
    if (row.format === 'csv' && row.download?.records !== row.lines)
      failures.push(`${name}: the file has ${row.download?.records} records, the job ${row.lines} lines`)
  }
  const csv = rows.find((r) => r.format === 'csv' && r.status === 'done')
  const pdf = rows.find((r) => r.format === 'pdf' && r.status === 'done')
  // One statement, one fingerprint: the PDF's footer prints the SHA-256 of the CSV form.
  if (csv && pdf && pdf.fingerprint !== csv.sha256)
    failures.push(`statement pdf: fingerprint ${pdf.fingerprint} is not the CSV's SHA-256 ${csv.sha256}`)
  return failures
}

/**
 * The statement scenario of issue 14: a one-year statement of the deep wallet as CSV, then as PDF
 * (two jobs: a job asked for again is the same job, a format is another), generated by a
 * `coffer worker` of its own while `coffer serve` answers the API.
 */
export async function measureStatements(options: {
  apiUrl: string
  auth: Record<string, string>
  benchUrl: string
  walletId: string
  workerPid: number
  signal: AbortSignal
  log: (message: string) => void
}): Promise<StatementFigures[]> {
  const period = await periodOf(options.benchUrl, options.walletId)
  options.log(
    `statement: ${period.expectedLines.toLocaleString('en-US')} lines from ${period.from.toISOString()} to ${period.to.toISOString()} ` +
      `(deep wallet entries ${DEEP_ENTRY_SPACING_SECONDS} s apart)`,
  )
  const rows: StatementFigures[] = []
  for (const format of ['csv', 'pdf'] as const) {
    if (options.signal.aborted) break
    const row = blankFigures(format, period)
    try {
      await measureOne(row, options)
    } catch (error) {
      // One broken job is a row that says so, not a run without figures.
      row.status = 'failed'
      row.note = (error as Error).message
    }
    rows.push(row)
    options.log(formatStatementRow(row))
  }
  return rows
}
