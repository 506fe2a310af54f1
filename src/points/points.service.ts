import { uuidv7 } from 'uuidv7'
import { hasRole, type Principal } from '../auth/principal.js'
import type { Db, Trx } from '../db/database.js'
import { type OutboxEvent, outboxEvent } from '../events/outbox.js'
import type { PostingEngine } from '../ledger/posting-engine.js'
import type { PostedTransaction, PostingRequest, TransactionType } from '../ledger/posting-types.js'
import { countPointsSettled } from '../metrics/jobs.js'
import type { HistoryCursors } from '../wallets/history-cursor.js'
import type { EarningRules } from './earning-rules.js'
import { type Draw, parsePoints, planDraws } from './lot-draws.js'
import {
  InsufficientPoints,
  InvalidPointDates,
  InvalidPoints,
  PointsAlreadyReversed,
  PointsNotReversible,
  PointsTransactionNotFound,
  PointsUserNotFound,
  PointsUserRequired,
} from './points.errors.js'
import * as repo from './points.repository.js'
import type {
  AdjustInput,
  AdjustView,
  EarnInput,
  EarnView,
  HistoryPageView,
  HistoryQueryInput,
  LotsQueryInput,
  LotView,
  PointAccountView,
  ReversalView,
  ReverseInput,
  SpendInput,
  SpendView,
} from './points.schemas.js'
import type { LotStatus } from './points.tables.js'

const DAY_MS = 86_400_000
/** The asset of the default program, which migration 0012 seeds. */
export const DEFAULT_POINT_ASSET = 'PTS'
/**
 * Accounts settled per transaction by the worker: one small batch of locks at a time. 200
 * accounts of five lots each hold their locks for about 100 ms on the bench machine.
 */
export const SWEEP_BATCH_ACCOUNTS = 200

export interface PointsServiceOptions {
  db: Db
  engine: PostingEngine
  cursors: HistoryCursors
  /** The points window of `expiringSoon` (POINTS_EXPIRING_SOON_DAYS). */
  expiringSoonDays: number
  /**
   * Whether a user id names a user, for the paths where an operator names one; asked in the
   * caller's transaction (PGlite has a single connection, which that transaction holds).
   */
  userExists: (db: Db | Trx, userId: string) => Promise<boolean>
  /**
   * The instant that decides maturity and expiry. Injected so a test can move time; never the
   * database's now(), which a test cannot move.
   */
  now?: () => Date
  /** The program this service runs; one today, each further program is a row of point_programs. */
  program?: string
  /** What purchases earn; without it, purchases earn nothing. */
  earningRules?: EarningRules
}

/** One change to a locked point account, posted through the engine. */
interface PointChange {
  account: repo.LockedPointAccount
  type: TransactionType
  /** Signed change of the total (the ledger balance). */
  points: bigint
  /** Signed change of pending. */
  pendingDelta: bigint
  reference?: string | null
  description?: string | null
  source?: string | null
  lotId?: string | null
  expiresAt?: Date | null
  reversesId?: string | null
  metadata: Record<string, unknown>
  event: { type: string; data: Record<string, unknown> }
}

interface Figures {
  total: string
  available: string
  pending: string
}

function figuresOf(account: { balance: bigint; pending: bigint }): Figures {
  return {
    total: account.balance.toString(),
    available: (account.balance - account.pending).toString(),
    pending: account.pending.toString(),
  }
}

const iso = (date: Date | null) => date?.toISOString() ?? null
const sum = (values: bigint[]) => values.reduce((a, b) => a + b, 0n)
const min = (a: bigint, b: bigint) => (a < b ? a : b)

function seesEveryone(principal: Principal): boolean {
  return hasRole(principal, 'admin', 'service')
}

/**
 * Loyalty points on the ledger. Every write locks the user's point account row first, settles
 * what has come due (pending lots maturing, lots expiring: each a recorded transaction), then does
 * its work, all in the caller's transaction; reads settle first too, so expired points are never
 * shown. Lots are only changed under their account's lock, so they need no locks of their own.
 */
export class PointsService {
  private readonly db: Db
  private readonly engine: PostingEngine
  private readonly cursors: HistoryCursors
  private readonly expiringSoonDays: number
  private readonly userExists: (db: Db | Trx, userId: string) => Promise<boolean>
  readonly now: () => Date
  readonly programCode: string
  private readonly earningRules: EarningRules | null
  private programRow: Promise<repo.ProgramRow> | undefined
  private readonly assets = new Set([DEFAULT_POINT_ASSET])

  constructor(options: PointsServiceOptions) {
    this.db = options.db
    this.engine = options.engine
    this.cursors = options.cursors
    this.expiringSoonDays = options.expiringSoonDays
    this.userExists = options.userExists
    this.now = options.now ?? (() => new Date())
    this.programCode = options.program ?? 'default'
    this.earningRules = options.earningRules ?? null
  }

  /** Read once per process, in the caller's transaction if it is in one (PGlite's single connection). */
  private program(db: Db | Trx = this.db): Promise<repo.ProgramRow> {
    this.programRow ??= repo.findProgram(db, this.programCode).then(
      (row) => {
        if (!row) throw new Error(`no point program ${this.programCode}`)
        this.assets.add(row.asset)
        return row
      },
      (error: unknown) => {
        this.programRow = undefined
        throw error
      },
    )
    return this.programRow
  }

  /** Whether a currency is a point program's asset, which the wallet API must not reach. */
  isPointAsset(currency: string): boolean {
    return this.assets.has(currency.toUpperCase())
  }

  private parse(text: string, signed = false): bigint {
    const parsed = parsePoints(text, { signed })
    if (typeof parsed !== 'bigint') throw new InvalidPoints({ reason: parsed.refused })
    return parsed
  }

  private async requireUser(db: Db | Trx, userId: string): Promise<void> {
    if (!(await this.userExists(db, userId))) throw new PointsUserNotFound({ userId })
  }

  /**
   * Whose points a request is about: a user only ever their own (naming anyone else is a 404, as
   * if that account did not exist); an admin or service the user it names, who must exist.
   */
  private async subjectOf(
    principal: Principal,
    userId: string | undefined,
    db: Db | Trx = this.db,
  ): Promise<string> {
    if (!seesEveryone(principal)) {
      if (!principal.userId || (userId !== undefined && userId !== principal.userId))
        throw new PointsUserNotFound({ userId: userId ?? '' })
      return principal.userId
    }
    const subject = userId ?? principal.userId
    if (!subject) throw new PointsUserRequired()
    await this.requireUser(db, subject)
    return subject
  }

  // ---- writes ---------------------------------------------------------------------------------

  /** The user's point account, created if need be, locked, with everything due settled. */
  private async openAccount(trx: Trx, userId: string, now: Date): Promise<repo.LockedPointAccount> {
    const program = await this.program(trx)
    const accountId =
      (await repo.findAccountId(trx, program.code, userId)) ??
      (await repo.ensureAccount(trx, { id: uuidv7(), program: program.code, userId, asset: program.asset }))
    return this.lockAndSettle(trx, accountId, now)
  }

  private async lockAndSettle(trx: Trx, accountId: string, now: Date): Promise<repo.LockedPointAccount> {
    const [account] = await repo.lockAccounts(trx, [accountId])
    if (!account) throw new Error(`point account ${accountId} has no accounts row`)
    await this.settleDue(trx, [account], now)
    return account
  }

  /**
   * Posts the changes in one engine call and keeps each account's figures current. Each change's
   * figures after it are computed here, under the lock, for its event and history row; the
   * history rows are returned, to be written once the lots they name exist.
   */
  private async post(
    trx: Trx,
    changes: PointChange[],
  ): Promise<{ posted: PostedTransaction[]; history: repo.HistoryInsert[] }> {
    if (changes.length === 0) return { posted: [], history: [] }
    const program = await this.program(trx)
    const running = new Map<string, { balance: bigint; pending: bigint }>()
    const afters: { balance: bigint; pending: bigint }[] = []
    const requests: PostingRequest[] = changes.map((change) => {
      const { account } = change
      const before = running.get(account.accountId) ?? { balance: account.balance, pending: account.pending }
      const after = { balance: before.balance + change.points, pending: before.pending + change.pendingDelta }
      running.set(account.accountId, after)
      afters.push(after)
      const asset = account.asset
      const magnitude = change.points !== 0n ? change.points : change.pendingDelta
      return {
        type: change.type,
        currency: asset,
        amount: magnitude < 0n ? -magnitude : magnitude,
        legs:
          change.points === 0n
            ? []
            : [
                { account: { wallet: account.accountId }, currency: asset, amount: change.points },
                {
                  account: { system: { name: 'points:issuer', currency: asset } },
                  currency: asset,
                  amount: -change.points,
                },
              ],
        pendingChanges:
          change.pendingDelta === 0n ? [] : [{ walletId: account.accountId, delta: change.pendingDelta }],
        reference: change.reference ?? null,
        description: change.description ?? null,
        metadata: { program: program.code, ...change.metadata },
        reversesId: change.reversesId ?? null,
        // A maturity only lowers pending, as a hold's release does.
        releaseOnly: change.points === 0n,
        events: (posted) => [
          outboxEvent(
            change.event.type,
            { type: 'points', id: account.accountId },
            {
              userId: account.userId,
              accountId: account.accountId,
              program: program.code,
              transactionId: posted.id,
              ...change.event.data,
              ...figuresOf(after),
              createdAt: '',
            },
          ),
        ],
      }
    })
    const outcomes = await this.engine.post(trx, requests)
    const posted = outcomes.map((outcome) => {
      // Every change was checked against the lots under the lock; a refusal here is a bug.
      if (!outcome.ok) throw outcome.error
      return outcome.posted
    })
    for (const change of changes) {
      const after = running.get(change.account.accountId)!
      change.account.balance = after.balance
      change.account.pending = after.pending
    }
    const history = changes.map((change, i) => ({
      accountId: change.account.accountId,
      transactionId: posted[i]!.id,
      type: change.type,
      points: change.points,
      availableChange: change.points - change.pendingDelta,
      totalAfter: afters[i]!.balance,
      pendingAfter: afters[i]!.pending,
      lotId: change.lotId ?? null,
      expiresAt: change.expiresAt ?? null,
      source: change.source ?? null,
      reference: change.reference ?? null,
      description: change.description ?? null,
      createdAt: posted[i]!.createdAt,
    }))
    return { posted, history }
  }

  /**
   * Matures the pending lots and expires the lots that have come due at `now`, for accounts the
   * caller has locked: per account one points_available and one points_expire transaction, all
   * posted in one engine call. Maturity goes first, so a lot that both matured and lapsed since
   * it was last looked at is released from pending and then expires.
   */
  async settleDue(
    trx: Trx,
    accounts: repo.LockedPointAccount[],
    now: Date,
  ): Promise<{ matured: number; expired: number }> {
    if (accounts.length === 0) return { matured: 0, expired: 0 }
    // The lots change first, in one statement that returns what they held; the transactions that
    // record it follow in the same database transaction, so either both happen or neither.
    const due = await repo.settleDueLots(
      trx,
      accounts.map((a) => a.accountId),
      now,
    )
    if (due.length === 0) return { matured: 0, expired: 0 }
    const byAccount = new Map<string, repo.SettledLot[]>()
    for (const lot of due) {
      const lots = byAccount.get(lot.account_id)
      if (lots) lots.push(lot)
      else byAccount.set(lot.account_id, [lot])
    }
    const changes: PointChange[] = []
    let matured = 0
    let expired = 0
    for (const account of accounts) {
      const lots = byAccount.get(account.accountId)
      if (!lots) continue
      const maturing = lots.filter((l) => l.status === 'pending' && l.remaining > 0n)
      const expiring = lots.filter((l) => l.expires_at !== null && l.expires_at <= now && l.remaining > 0n)
      if (maturing.length > 0) {
        const points = sum(maturing.map((l) => l.remaining))
        changes.push({
          account,
          type: 'points_available',
          points: 0n,
          pendingDelta: -points,
          metadata: { lots: maturing.map((l) => l.id) },
          lotId: maturing.length === 1 ? maturing[0]!.id : null,
          event: {
            type: 'points.available',
            data: {
              points: points.toString(),
              lots: maturing.map((l) => ({ lotId: l.id, points: l.remaining.toString() })),
            },
          },
        })
        matured += maturing.length
      }
      if (expiring.length > 0) {
        const points = sum(expiring.map((l) => l.remaining))
        changes.push({
          account,
          type: 'points_expire',
          points: -points,
          pendingDelta: 0n,
          metadata: { lots: expiring.map((l) => l.id) },
          lotId: expiring.length === 1 ? expiring[0]!.id : null,
          event: {
            type: 'points.expired',
            data: {
              points: points.toString(),
              lots: expiring.map((l) => ({
                lotId: l.id,
                points: l.remaining.toString(),
                expiresAt: l.expires_at!.toISOString(),
              })),
            },
          },
        })
        expired += expiring.length
      }
    }
    const { history } = await this.post(trx, changes)
    await repo.insertHistory(trx, history)
    return { matured, expired }
  }

  /** A new lot: an earn, or a positive adjustment. */
  private async addLot(
    trx: Trx,
    account: repo.LockedPointAccount,
    lot: {
      type: 'points_earn' | 'points_adjust'
      points: bigint
      now: Date
      availableAt: Date
      expiresAt: Date | null
      source: string
      reference: string | null
      description: string | null
      purchaseTransactionId?: string | null
      metadata?: Record<string, unknown>
    },
  ): Promise<{ posted: PostedTransaction; lot: LotView }> {
    const pending = lot.availableAt > lot.now
    const lotId = uuidv7()
    const status = pending ? 'pending' : 'available'
    const { posted, history } = await this.post(trx, [
      {
        account,
        type: lot.type,
        points: lot.points,
        pendingDelta: pending ? lot.points : 0n,
        reference: lot.reference,
        description: lot.description,
        source: lot.source,
        lotId,
        expiresAt: lot.expiresAt,
        metadata: { lotId, source: lot.source, ...lot.metadata },
        event: {
          type: lot.type === 'points_earn' ? 'points.earned' : 'points.adjusted',
          data: {
            points: lot.points.toString(),
            lotId,
            lotStatus: status,
            source: lot.source,
            reference: lot.reference,
            availableAt: lot.availableAt.toISOString(),
            expiresAt: iso(lot.expiresAt),
          },
        },
      },
    ])
    const transaction = posted[0]!
    await repo.insertLot(trx, {
      id: lotId,
      accountId: account.accountId,
      earnTransactionId: transaction.id,
      points: lot.points,
      status,
      availableAt: lot.availableAt,
      expiresAt: lot.expiresAt,
      source: lot.source,
      reference: lot.reference,
      purchaseTransactionId: lot.purchaseTransactionId ?? null,
      createdAt: transaction.createdAt,
    })
    await repo.insertHistory(trx, history)
    return {
      posted: transaction,
      lot: {
        id: lotId,
        points: lot.points.toString(),
        remaining: lot.points.toString(),
        status,
        availableAt: lot.availableAt.toISOString(),
        expiresAt: iso(lot.expiresAt),
        source: lot.source,
        reference: lot.reference,
        earnTransactionId: transaction.id,
        createdAt: transaction.createdAt.toISOString(),
      },
    }
  }

  /** Takes points from the available lots, earliest expiry first: a spend, or a negative adjustment. */
  private async drawPoints(
    trx: Trx,
    account: repo.LockedPointAccount,
    draw: {
      type: 'points_spend' | 'points_adjust'
      points: bigint
      now: Date
      source: string
      reference: string | null
      description: string | null
      metadata?: Record<string, unknown>
    },
  ): Promise<{
    posted: PostedTransaction
    draws: { lotId: string; points: string; expiresAt: string | null }[]
  }> {
    const lots = await repo.spendableLots(trx, account.accountId)
    const plan = planDraws(
      lots.map((l) => ({ id: l.id, remaining: l.remaining, expiresAt: l.expires_at })),
      draw.points,
    )
    if (!plan) {
      throw new InsufficientPoints({
        available: (account.balance - account.pending).toString(),
        requested: draw.points.toString(),
      })
    }
    const lotsById = new Map(lots.map((l) => [l.id, l]))
    const draws = plan.map((d: Draw) => ({
      lotId: d.lotId,
      points: d.points.toString(),
      expiresAt: iso(lotsById.get(d.lotId)!.expires_at),
    }))
    const { posted, history } = await this.post(trx, [
      {
        account,
        type: draw.type,
        points: -draw.points,
        pendingDelta: 0n,
        reference: draw.reference,
        description: draw.description,
        source: draw.source,
        metadata: { source: draw.source, ...draw.metadata },
        event: {
          type: draw.type === 'points_spend' ? 'points.spent' : 'points.adjusted',
          data: {
            points: (draw.type === 'points_spend' ? draw.points : -draw.points).toString(),
            source: draw.source,
            reference: draw.reference,
            draws,
          },
        },
      },
    ])
    const transaction = posted[0]!
    await repo.insertDraws(trx, transaction.id, plan)
    await repo.updateLots(
      trx,
      plan.map((d) => {
        const lot = lotsById.get(d.lotId)!
        return { id: lot.id, remaining: lot.remaining - d.points, status: lot.status }
      }),
      draw.now,
    )
    await repo.insertHistory(trx, history)
    return { posted: transaction, draws }
  }

  async earn(trx: Trx, input: EarnInput): Promise<EarnView> {
    const points = this.parse(input.points)
    await this.requireUser(trx, input.userId)
    const now = this.now()
    const pendingUntil = input.pendingUntil ? new Date(input.pendingUntil) : null
    const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null
    const availableAt = pendingUntil && pendingUntil > now ? pendingUntil : now
    if (expiresAt && expiresAt <= availableAt) {
      throw new InvalidPointDates({
        reason: pendingUntil
          ? 'expiresAt must be later than now and than pendingUntil'
          : 'expiresAt must be in the future',
      })
    }
    const account = await this.openAccount(trx, input.userId, now)
    const { posted, lot } = await this.addLot(trx, account, {
      type: 'points_earn',
      points,
      now,
      availableAt,
      expiresAt,
      source: input.source,
      reference: input.reference ?? null,
      description: input.description ?? null,
    })
    return {
      transactionId: posted.id,
      userId: input.userId,
      points: points.toString(),
      lot,
      ...figuresOf(account),
      createdAt: posted.createdAt.toISOString(),
    }
  }

  async spend(trx: Trx, principal: Principal, input: SpendInput): Promise<SpendView> {
    const points = this.parse(input.points)
    const userId = await this.subjectOf(principal, input.userId, trx)
    const now = this.now()
    const program = await this.program(trx)
    const accountId = await repo.findAccountId(trx, program.code, userId)
    if (!accountId) throw new InsufficientPoints({ available: '0', requested: points.toString() })
    const account = await this.lockAndSettle(trx, accountId, now)
    const { posted, draws } = await this.drawPoints(trx, account, {
      type: 'points_spend',
      points,
      now,
      source: input.source,
      reference: input.reference ?? null,
      description: input.description ?? null,
    })
    return {
      transactionId: posted.id,
      userId,
      points: points.toString(),
      draws,
      ...figuresOf(account),
      createdAt: posted.createdAt.toISOString(),
    }
  }

  async adjust(trx: Trx, principal: Principal, input: AdjustInput): Promise<AdjustView> {
    const points = this.parse(input.points, true)
    await this.requireUser(trx, input.userId)
    const now = this.now()
    const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null
    if (expiresAt && points < 0n)
      throw new InvalidPointDates({ reason: 'expiresAt is for a positive adjustment, which makes a lot' })
    if (expiresAt && expiresAt <= now)
      throw new InvalidPointDates({ reason: 'expiresAt must be in the future' })
    const account = await this.openAccount(trx, input.userId, now)
    const common = {
      now,
      source: 'adjustment',
      reference: null,
      description: input.reason,
      metadata: { reason: input.reason, adjustedBy: principal.id },
    }
    if (points > 0n) {
      const { posted, lot } = await this.addLot(trx, account, {
        ...common,
        type: 'points_adjust',
        points,
        availableAt: now,
        expiresAt,
      })
      return {
        transactionId: posted.id,
        userId: input.userId,
        points: points.toString(),
        lot,
        draws: [],
        ...figuresOf(account),
        createdAt: posted.createdAt.toISOString(),
      }
    }
    const { posted, draws } = await this.drawPoints(trx, account, {
      ...common,
      type: 'points_adjust',
      points: -points,
    })
    return {
      transactionId: posted.id,
      userId: input.userId,
      points: points.toString(),
      lot: null,
      draws,
      ...figuresOf(account),
      createdAt: posted.createdAt.toISOString(),
    }
  }

  /**
   * Reverses a spend or a negative adjustment by returning its points to the lots they came
   * from, with those lots' own expiry (a lot that has expired meanwhile gets nothing back, and
   * the answer says so); reverses an earn or a positive adjustment by clawing back what remains
   * of its lot, recording the rest as shortfall.
   */
  async reverse(trx: Trx, transactionId: string, input: ReverseInput): Promise<ReversalView> {
    const original = await repo.findPointTransaction(trx, transactionId)
    if (!original) throw new PointsTransactionNotFound({ transactionId })
    if (!['points_earn', 'points_adjust', 'points_spend'].includes(original.type)) {
      throw new PointsNotReversible({
        transactionId,
        reason: `a ${original.type} is the ledger's own bookkeeping`,
      })
    }
    const now = this.now()
    const account = await this.lockAndSettle(trx, original.account_id, now)
    if (await repo.isReversed(trx, transactionId)) throw new PointsAlreadyReversed({ transactionId })
    const lot = await repo.lotOfEarn(trx, transactionId)
    const outcome = lot
      ? await this.clawBack(trx, account, lot, lot.points - lot.clawed_back, {
          reversesId: transactionId,
          reason: input.reason,
          now,
          whole: true,
        })
      : await this.returnDraws(trx, account, transactionId, input.reason, now)
    await repo.insertReversal(trx, {
      originalTransactionId: transactionId,
      reversalTransactionId: outcome.posted?.id ?? null,
      accountId: account.accountId,
      points: outcome.points,
      reason: input.reason,
      createdAt: outcome.posted?.createdAt ?? now,
    })
    return {
      reversedTransactionId: transactionId,
      reversalTransactionId: outcome.posted?.id ?? null,
      userId: account.userId,
      kind: outcome.kind,
      points: outcome.points.toString(),
      lots: outcome.lots,
      shortfall: outcome.shortfall.toString(),
      ...figuresOf(account),
      createdAt: (outcome.posted?.createdAt ?? now).toISOString(),
    }
  }

  private reversalEvent(
    account: repo.LockedPointAccount,
    data: Record<string, unknown>,
    after: { balance: bigint; pending: bigint },
    at: Date,
  ): OutboxEvent {
    return outboxEvent(
      'points.reversed',
      { type: 'points', id: account.accountId },
      {
        userId: account.userId,
        accountId: account.accountId,
        program: this.programCode,
        transactionId: null,
        ...data,
        ...figuresOf(after),
        createdAt: at.toISOString(),
      },
    )
  }

  private async returnDraws(
    trx: Trx,
    account: repo.LockedPointAccount,
    transactionId: string,
    reason: string,
    now: Date,
  ) {
    const draws = await repo.drawsOf(trx, transactionId)
    // A lot past its expiry gets nothing back, even one never marked expired because a spend had
    // emptied it before it lapsed.
    const returnable = (lot: repo.LotRow) =>
      lot.status === 'available' && (lot.expires_at === null || lot.expires_at > now)
    const lots = draws.map(({ draw, lot }) => ({
      lotId: lot.id,
      points: draw.toString(),
      outcome: returnable(lot) ? 'returned' : 'forfeited',
      expiresAt: iso(lot.expires_at),
    }))
    const returned = sum(draws.filter(({ lot }) => returnable(lot)).map(({ draw }) => draw))
    const data = {
      reversedTransactionId: transactionId,
      kind: 'returned',
      points: returned.toString(),
      shortfall: '0',
      lots,
    }
    let posted: PostedTransaction | null = null
    if (returned > 0n) {
      const result = await this.post(trx, [
        {
          account,
          type: 'points_reversal',
          points: returned,
          pendingDelta: 0n,
          reversesId: transactionId,
          description: reason,
          metadata: { reason, returned: returned.toString() },
          event: { type: 'points.reversed', data },
        },
      ])
      posted = result.posted[0]!
      await repo.updateLots(
        trx,
        draws
          .filter(({ lot }) => returnable(lot))
          .map(({ draw, lot }) => ({ id: lot.id, remaining: lot.remaining + draw, status: lot.status })),
        now,
      )
      await repo.insertHistory(trx, result.history)
    } else {
      await repo.insertOutboxEvents(trx, [this.reversalEvent(account, data, account, now)])
    }
    return { kind: 'returned' as const, posted, points: returned, lots, shortfall: 0n }
  }

  /**
   * Takes back up to `requested` points of an earn's lot: what remains of it; the part already
   * spent or expired is recorded as the lot's shortfall. Pending points leave pending with it.
   */
  private async clawBack(
    trx: Trx,
    account: repo.LockedPointAccount,
    lot: repo.LotRow,
    requested: bigint,
    options: { reversesId: string; reason: string; now: Date; whole: boolean },
  ) {
    const open = lot.status === 'pending' || lot.status === 'available'
    const take = open ? min(requested, lot.remaining) : 0n
    const shortfall = requested - take
    const remaining = lot.remaining - take
    const status: LotStatus =
      open && (options.whole || (remaining === 0n && lot.status === 'pending')) ? 'reversed' : lot.status
    const lots = [
      { lotId: lot.id, points: take.toString(), outcome: 'clawed_back', expiresAt: iso(lot.expires_at) },
    ]
    const data = {
      reversedTransactionId: options.reversesId,
      kind: 'clawed_back',
      points: take.toString(),
      shortfall: shortfall.toString(),
      lots,
    }
    let posted: PostedTransaction | null = null
    let history: repo.HistoryInsert[] = []
    if (take > 0n) {
      const result = await this.post(trx, [
        {
          account,
          type: 'points_reversal',
          points: -take,
          pendingDelta: lot.status === 'pending' ? -take : 0n,
          reversesId: options.reversesId,
          description: options.reason,
          lotId: lot.id,
          metadata: { reason: options.reason, clawedBack: take.toString(), shortfall: shortfall.toString() },
          event: { type: 'points.reversed', data },
        },
      ])
      posted = result.posted[0]!
      history = result.history
    } else {
      await repo.insertOutboxEvents(trx, [this.reversalEvent(account, data, account, options.now)])
    }
    await repo.updateLots(
      trx,
      [
        {
          id: lot.id,
          remaining,
          status,
          clawedBack: lot.clawed_back + requested,
          shortfall: lot.shortfall + shortfall,
        },
      ],
      options.now,
    )
    await repo.insertHistory(trx, history)
    return { kind: 'clawed_back' as const, posted, points: take, lots, shortfall }
  }

  // ---- purchases --------------------------------------------------------------------------------

  /**
   * The points a purchase earns under the earning rules, in the purchase's own transaction: a lot
   * pending for the rule's return window, lapsing `expiryDays` after the purchase. No rule, no points.
   */
  async earnForPurchase(
    trx: Trx,
    purchase: {
      transactionId: string
      userId: string
      currency: string
      merchant: string
      amount: bigint
      orderId: string | null
    },
  ): Promise<void> {
    const rule = await this.earningRules?.match(trx, purchase)
    if (!rule) return
    const now = this.now()
    const availableAt = new Date(now.getTime() + rule.pendingDays * DAY_MS)
    const expiresAt = rule.expiryDays === null ? null : new Date(now.getTime() + rule.expiryDays * DAY_MS)
    const account = await this.openAccount(trx, purchase.userId, now)
    await this.addLot(trx, account, {
      type: 'points_earn',
      points: rule.points,
      now,
      availableAt,
      expiresAt,
      source: 'purchase',
      reference: purchase.orderId ?? purchase.transactionId,
      description: `purchase at ${purchase.merchant}`,
      purchaseTransactionId: purchase.transactionId,
      metadata: { purchaseTransactionId: purchase.transactionId, merchant: purchase.merchant },
    })
  }

  /**
   * A refund of a purchase claws back the same share of the points it earned (rounded down, so
   * partial refunds never take more in all than a whole one), from that purchase's lot; what the
   * lot no longer holds is recorded as its shortfall.
   */
  async clawBackForRefund(
    trx: Trx,
    refund: { purchaseTransactionId: string; purchaseAmount: bigint; refundedTotal: bigint; reason: string },
  ): Promise<void> {
    const lots = await repo.lotsOfPurchase(trx, refund.purchaseTransactionId)
    if (lots.length === 0) return
    const now = this.now()
    for (const { account_id: accountId, id } of lots) {
      const account = await this.lockAndSettle(trx, accountId, now)
      // Read again under the lock: settling may just have matured or expired it.
      const lot = (await repo.lotsOfPurchase(trx, refund.purchaseTransactionId)).find((l) => l.id === id)!
      const target = (lot.points * refund.refundedTotal) / refund.purchaseAmount
      const requested = target - lot.clawed_back
      if (requested <= 0n) continue
      await this.clawBack(trx, account, lot, requested, {
        reversesId: lot.earn_transaction_id,
        reason: refund.reason,
        now,
        whole: target === lot.points,
      })
    }
  }

  // ---- the worker's sweep -------------------------------------------------------------------------

  /**
   * Settles every account with due lots, `batchSize` accounts per transaction, skipping accounts
   * a request holds right now (that request settles them itself): however many lots lapse at
   * once, no lock is held longer than one small batch. One batch at a time: overlapping batches
   * measured slower (they skip each other's accounts and contend on the same lots).
   */
  async settleDueAccounts(
    batchSize = SWEEP_BATCH_ACCOUNTS,
  ): Promise<{ accounts: number; matured: number; expired: number }> {
    const totals = { accounts: 0, matured: 0, expired: 0 }
    for (;;) {
      const now = this.now()
      const settled = await this.engine.changes.transaction(this.db, async (trx) => {
        const locked = await repo.lockAccountsWithDueLots(trx, now, batchSize)
        return { accounts: locked.length, ...(await this.settleDue(trx, locked, now)) }
      })
      totals.accounts += settled.accounts
      totals.matured += settled.matured
      totals.expired += settled.expired
      countPointsSettled(settled)
      // Nothing due, or every due account is held by a request, which settles it itself.
      if (settled.accounts === 0) break
    }
    return totals
  }

  // ---- reads --------------------------------------------------------------------------------------

  /** Settles what is due before a read, through the write path, so a read never shows lapsed points. */
  private async settledAccountId(userId: string): Promise<string | undefined> {
    const program = await this.program()
    const accountId = await repo.findAccountId(this.db, program.code, userId)
    if (!accountId) return undefined
    const now = this.now()
    if (await repo.hasDueLots(this.db, accountId, now)) {
      await this.engine.changes.transaction(this.db, (trx) => this.lockAndSettle(trx, accountId, now))
    }
    return accountId
  }

  async account(principal: Principal, userId?: string): Promise<PointAccountView> {
    const subject = await this.subjectOf(principal, userId)
    const program = await this.program()
    const accountId = await this.settledAccountId(subject)
    const base = { userId: subject, program: program.code, asset: program.asset }
    const withinDays = this.expiringSoonDays
    if (!accountId) {
      return {
        ...base,
        accountId: null,
        ...figuresOf({ balance: 0n, pending: 0n }),
        expiringSoon: { points: '0', nextExpiryAt: null, withinDays },
      }
    }
    const row = await repo.readAccount(this.db, accountId)
    const soon = await repo.expiringSoon(
      this.db,
      accountId,
      new Date(this.now().getTime() + withinDays * DAY_MS),
    )
    return {
      ...base,
      accountId,
      ...figuresOf(row),
      expiringSoon: { points: soon.points.toString(), nextExpiryAt: iso(soon.next), withinDays },
    }
  }

  /** Whose point account a statement is of, and its id (null: never had points), for `principal`. */
  async statementAccount(
    principal: Principal,
    userId?: string,
  ): Promise<{ userId: string; accountId: string | null; asset: string }> {
    const subject = await this.subjectOf(principal, userId)
    const program = await this.program()
    return {
      userId: subject,
      accountId: (await this.settledAccountId(subject)) ?? null,
      asset: program.asset,
    }
  }

  async lots(principal: Principal, query: LotsQueryInput): Promise<LotView[]> {
    const subject = await this.subjectOf(principal, query.userId)
    const accountId = await this.settledAccountId(subject)
    if (!accountId) return []
    const rows = await repo.openLots(this.db, accountId, query.limit ?? 50)
    return rows.map((row) => ({
      id: row.id,
      points: row.points.toString(),
      remaining: row.remaining.toString(),
      status: row.status,
      availableAt: row.available_at.toISOString(),
      expiresAt: iso(row.expires_at),
      source: row.source,
      reference: row.reference,
      earnTransactionId: row.earn_transaction_id,
      createdAt: row.created_at.toISOString(),
    }))
  }

  async history(principal: Principal, query: HistoryQueryInput): Promise<HistoryPageView> {
    const subject = await this.subjectOf(principal, query.userId)
    const accountId = await this.settledAccountId(subject)
    if (!accountId) {
      if (query.cursor) await this.cursors.open(`points:${subject}`, query.cursor)
      return { items: [], nextCursor: null }
    }
    const limit = query.limit ?? 50
    const rows = await repo.historyPage(this.db, {
      accountId,
      beforeSeq: query.cursor ? await this.cursors.open(accountId, query.cursor) : undefined,
      type: query.type,
      limit: limit + 1,
    })
    const page = rows.slice(0, limit)
    return {
      items: page.map((row) => ({
        transactionId: row.transaction_id,
        type: row.type,
        points: row.points.toString(),
        availableChange: row.available_change.toString(),
        pointsAfter: row.total_after.toString(),
        pendingAfter: row.pending_after.toString(),
        availableAfter: (row.total_after - row.pending_after).toString(),
        lotId: row.lot_id,
        expiresAt: iso(row.expires_at),
        source: row.source,
        reference: row.reference,
        description: row.description,
        createdAt: row.created_at.toISOString(),
      })),
      nextCursor: rows.length > limit ? await this.cursors.seal(accountId, page[page.length - 1]!.seq) : null,
    }
  }
}
