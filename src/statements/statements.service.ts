import type { Logger } from 'pino'
import { uuidv7 } from 'uuidv7'
import { hasRole, type Principal } from '../auth/principal.js'
import type { Db } from '../db/database.js'
import { isDatabaseUnavailable } from '../db/unavailable.js'
import { countStatementJob, statementJobsStarted } from '../metrics/jobs.js'
import type { CurrencyRegistry } from '../money/index.js'
import { openPointsStatement } from '../points/statement-source.js'
import { openWalletStatement } from '../wallets/statement-source.js'
import { renderStatement } from './render.js'
import { FilePartsWriter, readFileParts } from './statement-file-store.js'
import { ZonedClock } from './statement-format.js'
import { parseStatementPeriod } from './statement-period.js'
import {
  STATEMENT_CONTENT_TYPES,
  type StatementFormat,
  type StatementHolder,
  type StatementKind,
  type StatementPeriod,
  type StatementSource,
} from './statement-types.js'
import { StatementJobNotFound, StatementNotReady, TooManyStatementJobs } from './statements.errors.js'
import * as repo from './statements.repository.js'
import type { StatementJobView } from './statements.schemas.js'

const DAY_MS = 86_400_000
/** A job whose worker died this many times is given up: it may be what kills them. */
const MAX_ATTEMPTS = 3
export const STATEMENT_LEASE_MS = 30_000

export interface StatementLimits {
  immediateMaxDays: number
  immediateMaxLines: number
  maxRangeDays: number
  maxConcurrentJobs: number
  retentionHours: number
}

export interface StatementsServiceDeps {
  db: Db
  wallets: {
    walletIdentity(
      principal: Principal,
      walletId: string,
    ): Promise<{ id: string; userId: string; currency: string }>
    /** The replica once it has the wallet's latest change, else the primary (read-your-writes). */
    readerFor(walletId: string): Promise<Db>
  }
  points: {
    statementAccount(
      principal: Principal,
      userId?: string,
    ): Promise<{ userId: string; accountId: string | null; asset: string }>
  }
  holders: { holder(userId: string): Promise<StatementHolder | undefined> }
  currencies: CurrencyRegistry
  logger: Logger
  limits: StatementLimits
}

export type StatementTarget =
  | { kind: 'wallet'; walletId: string }
  | { kind: 'points'; userId?: string | undefined }

export interface PeriodQuery {
  from: string
  to: string
  tz?: string | undefined
}

export type StatementAnswer =
  | { kind: 'immediate'; source: StatementSource; format: StatementFormat; filename: string }
  | { kind: 'job'; job: StatementJobView }

export interface StatementFile {
  job: StatementJobView
  filename: string
  contentType: string
  size: number
  sha256: string
  body: NodeJS.ReadableStream
}

interface Subject {
  kind: StatementKind
  accountId: string | null
  userId: string
  currency: string
}

class LeaseLost extends Error {}
class Stopped extends Error {}

/**
 * Statements of a wallet or a point account: short ones rendered straight into the response,
 * long ones (or many lines) as jobs a worker generates into a stored file, with progress, a
 * SHA-256 and a retention.
 */
export class StatementsService {
  private readonly jobListeners = new Set<() => void>()

  constructor(private readonly deps: StatementsServiceDeps) {}

  /** A statement runner in this process listens, so a new job starts before its next poll. */
  onNewJob(listener: () => void): () => void {
    this.jobListeners.add(listener)
    return () => this.jobListeners.delete(listener)
  }

  async request(
    principal: Principal,
    target: StatementTarget,
    query: PeriodQuery,
    format: StatementFormat,
    options: { preferAsync?: boolean } = {},
  ): Promise<StatementAnswer> {
    const { limits } = this.deps
    const period = parseStatementPeriod(query, { maxDays: limits.maxRangeDays })
    const subject = await this.subjectOf(principal, target)
    const days = (period.to.getTime() - period.from.getTime()) / DAY_MS
    if (!options.preferAsync && days <= limits.immediateMaxDays) {
      const source = await this.open(subject, period)
      if (source.summary.count <= limits.immediateMaxLines) {
        return { kind: 'immediate', source, format, filename: filenameOf(subject, period, format) }
      }
    }
    return { kind: 'job', job: await this.createJob(principal, subject, period, format) }
  }

  async job(principal: Principal, jobId: string): Promise<StatementJobView> {
    return viewOf(await this.visibleJob(principal, jobId))
  }

  async file(principal: Principal, jobId: string): Promise<StatementFile> {
    const row = await this.visibleJob(principal, jobId)
    if (row.status !== 'done') throw new StatementNotReady({ jobId, status: row.status })
    const job = viewOf(row)
    return {
      job,
      filename: job.file!.filename,
      contentType: job.file!.contentType,
      size: job.file!.size,
      sha256: job.file!.sha256,
      body: readFileParts(this.deps.db, row.id),
    }
  }

  /**
   * Takes the oldest runnable job (queued, or held by a worker whose lease ran out) and generates
   * its file; false when there was none. The database going away is thrown (the worker backs
   * off; the lease runs out and the job is taken again); any other failure fails the job.
   */
  async runNextJob(
    workerId: string,
    options: { leaseMs?: number; signal?: AbortSignal } = {},
  ): Promise<boolean> {
    const leaseMs = options.leaseMs ?? STATEMENT_LEASE_MS
    const { signal } = options
    const { db, logger, limits } = this.deps
    const row = await repo.claimJob(db, workerId, leaseMs)
    if (!row) return false
    const log = logger.child({ statementJob: row.id, attempt: row.attempts })
    if (row.attempts > MAX_ATTEMPTS) {
      log.error('statement job given up: its worker stopped on every attempt')
      await repo.failJob(db, {
        id: row.id,
        workerId,
        error: `given up after ${MAX_ATTEMPTS} attempts: the worker generating it stopped each time`,
        retentionHours: limits.retentionHours,
      })
      countStatementJob('given_up')
      return true
    }
    const started = Date.now()
    statementJobsStarted.inc()
    const seconds = () => (Date.now() - started) / 1000
    let linesDone = 0
    let linesTotal = 0
    let leaseLost = false
    const renew = async () => {
      const held = await repo.renewJob(db, { id: row.id, workerId, leaseMs, linesDone, linesTotal })
      if (!held) leaseLost = true
    }
    // Progress and the lease are written on a clock, not per chunk: a slow chunk still renews.
    let renewing: Promise<void> = Promise.resolve()
    const timer = setInterval(
      () => {
        renewing = renewing.then(renew).catch((error: unknown) => {
          log.warn({ err: error }, 'statement job progress not recorded')
        })
      },
      Math.max(50, Math.min(250, Math.floor(leaseMs / 3))),
    )
    try {
      const source = await this.open(subjectOfRow(row), {
        from: row.period_from,
        to: row.period_to,
        timeZone: row.time_zone,
      })
      linesTotal = source.summary.count
      await renew()
      const writer = new FilePartsWriter(db, row.id)
      await writer.reset()
      const rendered = await renderStatement(source, row.format, writer, {
        onProgress: (done) => {
          if (leaseLost) throw new LeaseLost()
          if (signal?.aborted) throw new Stopped()
          linesDone = done
        },
      })
      clearInterval(timer)
      await renewing
      const finished =
        !leaseLost &&
        (await repo.finishJob(db, {
          id: row.id,
          workerId,
          linesTotal,
          size: rendered.size,
          sha256: rendered.sha256,
          fingerprint: rendered.fingerprint,
          retentionHours: limits.retentionHours,
        }))
      if (finished) {
        countStatementJob('done', row.format, seconds())
        log.info({ lines: linesTotal, bytes: rendered.size, ms: Date.now() - started }, 'statement generated')
      } else {
        countStatementJob('lease_lost')
        log.warn('statement job taken over by another worker before it finished; its result is theirs')
      }
    } catch (error) {
      clearInterval(timer)
      await renewing
      if (error instanceof Stopped) {
        log.info('statement job handed back: this worker is stopping')
        await repo.releaseJob(db, { id: row.id, workerId })
        countStatementJob('handed_back')
        return true
      }
      if (error instanceof LeaseLost || leaseLost) {
        log.warn('statement job taken over by another worker; this attempt stops')
        countStatementJob('lease_lost')
        return true
      }
      // Not an outcome yet: the job's lease runs out and this or another worker takes it again.
      if (isDatabaseUnavailable(error)) throw error
      log.error({ err: error }, 'statement job failed')
      countStatementJob('failed', row.format, seconds())
      await repo.failJob(db, {
        id: row.id,
        workerId,
        error:
          'the statement could not be generated; ask for it again, and quote the job id if it fails again',
        retentionHours: limits.retentionHours,
      })
    }
    return true
  }

  async purgeExpired(): Promise<number> {
    return repo.purgeExpiredJobs(this.deps.db)
  }

  private async subjectOf(principal: Principal, target: StatementTarget): Promise<Subject> {
    if (target.kind === 'wallet') {
      const wallet = await this.deps.wallets.walletIdentity(principal, target.walletId)
      return { kind: 'wallet', accountId: wallet.id, userId: wallet.userId, currency: wallet.currency }
    }
    const account = await this.deps.points.statementAccount(principal, target.userId)
    return { kind: 'points', accountId: account.accountId, userId: account.userId, currency: account.asset }
  }

  private async open(subject: Subject, period: StatementPeriod): Promise<StatementSource> {
    const { db, holders, currencies, wallets } = this.deps
    const holder = (await holders.holder(subject.userId)) ?? {
      userId: subject.userId,
      email: null,
      name: null,
    }
    if (subject.kind === 'points') {
      // The points module reads the primary throughout; so do its statements.
      return openPointsStatement(
        db,
        { accountId: subject.accountId, asset: subject.currency, holder },
        period,
      )
    }
    const { decimals } = currencies.require(subject.currency)
    return openWalletStatement(
      // The replica once it has the wallet's latest change (read-your-writes), else the primary.
      await wallets.readerFor(subject.accountId!),
      { walletId: subject.accountId!, currency: subject.currency, decimals, holder },
      period,
    )
  }

  private async createJob(
    principal: Principal,
    subject: Subject,
    period: StatementPeriod,
    format: StatementFormat,
  ): Promise<StatementJobView> {
    const { db, limits } = this.deps
    const wanted = {
      requesterKind: principal.kind,
      requesterId: principal.id,
      kind: subject.kind,
      accountId: subject.accountId,
      ownerUserId: subject.userId,
      format,
      from: period.from,
      to: period.to,
      timeZone: period.timeZone,
    }
    const { row, created } = await db.transaction().execute(async (trx) => {
      await repo.lockRequester(trx, principal.id)
      // Asking again for a statement being made (or made after its period ended) is that job.
      const reusable = await repo.findReusableJob(trx, wanted)
      if (reusable) return { row: reusable, created: false }
      if ((await repo.countOpenJobs(trx, principal.id)) >= limits.maxConcurrentJobs) {
        throw new TooManyStatementJobs({ limit: limits.maxConcurrentJobs })
      }
      return {
        row: await repo.insertJob(trx, { ...wanted, id: uuidv7(), currency: subject.currency }),
        created: true,
      }
    })
    if (created) for (const listener of this.jobListeners) listener()
    return viewOf(row)
  }

  /** Users see the jobs they asked for and those of their own accounts; admins every job. */
  private async visibleJob(principal: Principal, jobId: string): Promise<repo.StatementJobRow> {
    const row = await repo.findJob(this.deps.db, jobId)
    const visible =
      row !== undefined &&
      (hasRole(principal, 'admin') ||
        row.requester_id === principal.id ||
        (principal.userId !== null && row.owner_user_id === principal.userId))
    if (!visible) throw new StatementJobNotFound({ jobId })
    return row
  }
}

function subjectOfRow(row: repo.StatementJobRow): Subject {
  return { kind: row.kind, accountId: row.account_id, userId: row.owner_user_id, currency: row.currency }
}

const EXTENSIONS: Record<StatementFormat, string> = { json: 'json', csv: 'csv', pdf: 'pdf' }

/** `statement-USD-2026-11-01-to-2026-12-01.pdf`: the period's dates in its zone, `to` exclusive. */
function filenameOf(subject: Subject, period: StatementPeriod, format: StatementFormat): string {
  const clock = new ZonedClock(period.timeZone)
  const prefix = subject.kind === 'points' ? 'points-statement' : 'statement'
  return `${prefix}-${subject.currency}-${clock.date(period.from)}-to-${clock.date(period.to)}.${EXTENSIONS[format]}`
}

function iso(at: Date | null): string | null {
  return at ? at.toISOString() : null
}

function viewOf(row: repo.StatementJobRow): StatementJobView {
  const linesDone = Number(row.lines_done)
  const linesTotal = row.lines_total === null ? null : Number(row.lines_total)
  const percent =
    row.status === 'done'
      ? 100
      : linesTotal
        ? Math.min(99.9, Math.floor((linesDone / linesTotal) * 1000) / 10)
        : 0
  const subject = subjectOfRow(row)
  const period = { from: row.period_from, to: row.period_to, timeZone: row.time_zone }
  return {
    id: row.id,
    status: row.status,
    kind: row.kind,
    format: row.format,
    accountId: row.account_id,
    userId: row.owner_user_id,
    currency: row.currency,
    period: { from: row.period_from.toISOString(), to: row.period_to.toISOString(), timeZone: row.time_zone },
    progress: {
      linesDone: row.status === 'done' ? (linesTotal ?? linesDone) : linesDone,
      linesTotal,
      percent,
    },
    file:
      row.status === 'done' && row.sha256 !== null && row.size_bytes !== null
        ? {
            url: `/api/v1/statements/${row.id}/file`,
            contentType: STATEMENT_CONTENT_TYPES[row.format],
            filename: filenameOf(subject, period, row.format),
            size: Number(row.size_bytes),
            sha256: row.sha256,
          }
        : null,
    fingerprint: row.fingerprint,
    error: row.error,
    attempts: row.attempts,
    createdAt: row.created_at.toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    expiresAt: iso(row.expires_at),
  }
}
