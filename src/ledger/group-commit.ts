import type { Db, Trx } from '../db/database.js'
import { isDatabaseUnavailable } from '../db/unavailable.js'
import { AppError } from '../errors.js'
import { groupCommitBatchSize, idempotencyConflicts, idempotencyReplays } from '../metrics/ledger.js'
import { BatchPartlyRecorded, IdempotencyKeyInFlight, IdempotencyKeyReused } from './idempotency.errors.js'
import {
  claimKeys,
  type KeyClaim,
  purgeKeysOlderThan,
  type RecordedAnswer,
  recordAnswer,
  recordAnswers,
  storedAnswer,
} from './idempotency-keys.js'
import type { PostingEngine } from './posting-engine.js'
import type { PostedTransaction, PostingRequest } from './posting-types.js'
import type { WalletChanges } from './wallet-changes.js'

/** What a piece of work answers; the body is stored as JSON text, so a replay is byte for byte. */
export interface IdempotentResult {
  status: number
  body: unknown
}

/**
 * The stored body of a business refusal. The ledger does not know how its caller shows a problem
 * (HTTP renders problem+json with the request's id and URL), so the caller passes this in.
 */
export type RenderRefusal = (error: AppError) => unknown

/** A plain movement (deposit, withdrawal, transfer, purchase) to post under a key. */
export interface Movement {
  /** Builds the posting outside the database; a business refusal thrown here is the recorded answer. */
  build: () => Promise<PostingRequest>
  /** The body of the 201 answer for the posted transaction. */
  render: (posted: PostedTransaction) => unknown
  renderRefusal: RenderRefusal
}

/** Work that needs its own database transaction (holds, captures, voids, reversals, exchanges). */
export interface TransactionalWork {
  work: (trx: Trx) => Promise<IdempotentResult>
  renderRefusal: RenderRefusal
}

class ConcurrentFirstUse extends Error {}

/** One movement of a batch: a plain posting to build, or work of its own in the batch's transaction. */
export interface BatchMovement {
  claim: KeyClaim
  build?: () => Promise<PostingRequest>
  work?: (trx: Trx) => Promise<PostedTransaction>
  render: (posted: PostedTransaction) => unknown
  renderRefusal: RenderRefusal
}

/** What a batch did: each item's answer, in order (as recorded, or as it would have been). */
export type BatchOutcome =
  | { kind: 'applied' | 'replayed' | 'dry_run'; answers: RecordedAnswer[] }
  /** Nothing applied: `firstRefused` (and maybe others) was refused with `error`. */
  | { kind: 'refused'; answers: RecordedAnswer[]; firstRefused: number; error: AppError }

/** Rolls a batch's transaction back while handing its outcome out (a dry run, a refused item). */
class BatchRolledBack extends Error {
  constructor(readonly outcome: BatchOutcome) {
    super(outcome.kind)
  }
}

/** At most this many movements share a database transaction. */
const MAX_BATCH = 100
/**
 * Waiting movements start a batch beside a running one once they have waited this many times a
 * batch's usual time, and at least MIN_STALL_MS: rarely under a steady load, at once behind a
 * batch stuck on a lock.
 */
const STALL_FACTOR = 4
const MIN_STALL_MS = 50

interface BatchItem {
  claim: KeyClaim
  posting: PostingRequest
  render: (posted: PostedTransaction) => unknown
  renderRefusal: RenderRefusal
  resolve: (answer: RecordedAnswer) => void
  reject: (error: unknown) => void
  /** performance.now() when it joined the queue. */
  queuedAt: number
}

/** A 4xx of the business rules (insufficient_funds, wallet_frozen, ...), which a retry must see again. */
function isBusinessRefusal(error: unknown): error is AppError {
  return (
    error instanceof AppError &&
    error.status < 500 &&
    error.code !== IdempotencyKeyReused.definition.code &&
    error.code !== IdempotencyKeyInFlight.definition.code
  )
}

/** Counts a refused key (422 reused, 409 in flight) on its way to the caller; returns the error. */
function countKeyConflict(error: unknown): unknown {
  if (error instanceof AppError) {
    if (error.code === IdempotencyKeyReused.definition.code) idempotencyConflicts.inc({ reason: 'reused' })
    else if (error.code === IdempotencyKeyInFlight.definition.code)
      idempotencyConflicts.inc({ reason: 'in_flight' })
  }
  return error
}

/** A batch whose every key had its answer is one replay (POST /batches sent again). */
function countBatchReplay(outcome: BatchOutcome): BatchOutcome {
  if (outcome.kind === 'replayed') idempotencyReplays.inc()
  return outcome
}

/**
 * The write path's entry point: every money movement made under an idempotency key posts through
 * `postMovement` (or `run`, for work that needs its own transaction), whoever the caller is: an
 * HTTP route (src/http/idempotency.ts turns a request into a claim and the answer into a reply),
 * a broker consumer applying a command by its operation id, a bulk request, the bench. The
 * caller brings a claim `{ scope, key, fingerprint }` (scope from `callerScope`), the posting or
 * the work, and how to render success and a refusal; it gets `{ status, body, replayed }`, the
 * body being the stored JSON text. A key of another request (other fingerprint) is a thrown 422
 * `idempotency_key_reused`, a key still running a thrown 409 `idempotency_key_in_flight`: neither
 * is recorded.
 *
 * The key row commits in the same database transaction as the work, so a crash can neither
 * apply a request without its key nor record a key without its effect. A business refusal (a
 * 4xx AppError) rolls the work back and is then recorded on its own, so a retry gets the same
 * answer; the common, successful path needs no savepoint.
 *
 * "Still running" is seen by an in-process set (which also covers PGlite, where the first
 * request holds the only connection) and across processes by a transaction-scoped advisory
 * lock on the key, taken with try-lock so no request ever waits on another.
 */
export class IdempotentWriter {
  private readonly inFlight = new Set<string>()
  private readonly queue: BatchItem[] = []
  private batchesRunning = 0
  /** Exponentially weighted mean of how long a batch takes, from start to its answers. */
  private batchMs = 0
  private stallTimer: NodeJS.Timeout | undefined

  constructor(
    private readonly db: Db,
    private readonly engine: PostingEngine,
    private readonly concurrentBatches: number,
    /** Opens every transaction that posts, so the balance cache is written before the answer. */
    private readonly changes: WalletChanges,
  ) {}

  /** Runs `work` in its own database transaction with the key's record. */
  run(claim: KeyClaim, { work, renderRefusal }: TransactionalWork): Promise<RecordedAnswer> {
    return this.once(claim, () => this.attemptOnce(claim, work, renderRefusal))
  }

  /**
   * A plain movement (deposit, withdrawal, transfer, purchase): built outside the database, then
   * posted with the movements of other callers that are waiting at the same moment, in one
   * database transaction: one idempotency lookup, one lock statement, one write, one commit for
   * the lot. Each movement still succeeds or fails alone and gets its own record; if the batch
   * as a whole fails, each of its movements is run again on its own.
   */
  postMovement(claim: KeyClaim, { build, render, renderRefusal }: Movement): Promise<RecordedAnswer> {
    return this.once(claim, async () => {
      let posting: PostingRequest
      try {
        posting = await build()
      } catch (error) {
        if (!isBusinessRefusal(error)) throw error
        return this.recordRefusal(claim, error, renderRefusal)
      }
      return new Promise<RecordedAnswer>((resolve, reject) => {
        this.queue.push({
          claim,
          posting,
          render,
          renderRefusal,
          resolve,
          reject,
          queuedAt: performance.now(),
        })
        this.startBatches()
      })
    })
  }

  /**
   * Several movements as one: all posted in one database transaction with their keys, or none
   * (`atomic`), or checked under the same locks and rolled back (`dryRun`: what would happen,
   * applying nothing and recording no key). Items are posted in order, each seeing the state the
   * ones before it left. If every key already has its answer (a replay of an applied batch), the
   * stored answers are returned; a batch some of whose keys are recorded and others not is
   * refused, since all or none of it can be applied.
   */
  async postAll(
    items: BatchMovement[],
    options: { dryRun: boolean; atomic?: boolean },
  ): Promise<BatchOutcome> {
    const slots = items.map((item) => `${item.claim.scope} ${item.claim.key}`)
    if (slots.some((slot) => this.inFlight.has(slot))) throw countKeyConflict(new IdempotencyKeyInFlight())
    for (const slot of slots) this.inFlight.add(slot)
    try {
      const postings: (PostingRequest | null)[] = []
      const refusals: (AppError | null)[] = []
      for (const item of items) {
        if (!item.build) {
          postings.push(null)
          refusals.push(null)
          continue
        }
        try {
          postings.push(await item.build())
          refusals.push(null)
        } catch (error) {
          if (!isBusinessRefusal(error)) throw error
          postings.push(null)
          refusals.push(error)
        }
      }
      const run = () =>
        this.changes.transaction(this.db, (trx) => this.postAllIn(trx, items, postings, refusals, options))
      try {
        return countBatchReplay(await run())
      } catch (error) {
        if (error instanceof BatchRolledBack) return error.outcome
        if (!(error instanceof ConcurrentFirstUse)) throw countKeyConflict(error)
        // Another process recorded one of these keys meanwhile: again, which replays or refuses.
        try {
          return countBatchReplay(await run())
        } catch (again) {
          if (again instanceof BatchRolledBack) return again.outcome
          throw countKeyConflict(again)
        }
      }
    } finally {
      for (const slot of slots) this.inFlight.delete(slot)
    }
  }

  private async postAllIn(
    trx: Trx,
    items: BatchMovement[],
    postings: (PostingRequest | null)[],
    buildRefusals: (AppError | null)[],
    { dryRun, atomic = true }: { dryRun: boolean; atomic?: boolean },
  ): Promise<BatchOutcome> {
    const claims = await claimKeys(
      trx,
      items.map((item) => item.claim),
    )
    const refusedClaim = claims.find((c): c is AppError => c instanceof AppError)
    if (refusedClaim && atomic) throw refusedClaim
    const recorded = claims.filter((c) => c !== 'claimed' && !(c instanceof AppError)).length
    if (recorded === items.length) {
      return { kind: 'replayed', answers: claims as RecordedAnswer[] }
    }
    if (recorded > 0 && !dryRun && atomic) {
      throw new BatchPartlyRecorded({
        recorded: claims.flatMap((c, i) => (c === 'claimed' ? [] : [items[i]!.claim.key])),
      })
    }

    // Independent items: a key of another request, or one in flight, is that item's answer alone.
    const answers = claims.map((c, i): RecordedAnswer | null =>
      c === 'claimed'
        ? null
        : c instanceof AppError
          ? { status: c.status, body: JSON.stringify(items[i]!.renderRefusal(c)), replayed: false }
          : c,
    )
    const results: ({ ok: true; body: string } | { ok: false; error: AppError } | null)[] = items.map(
      (_, i) => (buildRefusals[i] ? { ok: false, error: buildRefusals[i]! } : null),
    )
    // Runs of plain postings go to the engine together; work of its own (a purchase that earns
    // points) runs alone, in its place in the order.
    let run: number[] = []
    const flush = async () => {
      if (run.length === 0) return
      const outcomes = await this.engine.post(
        trx,
        run.map((i) => postings[i]!),
      )
      outcomes.forEach((outcome, j) => {
        const i = run[j]!
        results[i] = outcome.ok
          ? { ok: true, body: JSON.stringify(items[i]!.render(outcome.posted)) }
          : outcome
      })
      run = []
    }
    for (let i = 0; i < items.length; i += 1) {
      if (answers[i] || results[i]) continue
      const item = items[i]!
      if (postings[i]) {
        run.push(i)
        continue
      }
      await flush()
      try {
        results[i] = { ok: true, body: JSON.stringify(item.render(await item.work!(trx))) }
      } catch (error) {
        if (!isBusinessRefusal(error)) throw error
        results[i] = { ok: false, error }
      }
    }
    await flush()

    const outcomeAnswers = items.map((item, i): RecordedAnswer => {
      const stored = answers[i]
      if (stored) return stored
      const result = results[i]!
      return result.ok
        ? { status: 201, body: result.body, replayed: false }
        : {
            status: result.error.status,
            body: JSON.stringify(item.renderRefusal(result.error)),
            replayed: false,
          }
    })
    const refused = results.findIndex((r) => r !== null && !r.ok)
    if (dryRun) throw new BatchRolledBack({ kind: 'dry_run', answers: outcomeAnswers })
    if (refused >= 0 && atomic) {
      const failure = results[refused] as { ok: false; error: AppError }
      throw new BatchRolledBack({
        kind: 'refused',
        answers: outcomeAnswers,
        firstRefused: refused,
        error: failure.error,
      })
    }
    // Only the claimed keys: replays are recorded already, refused claims are not this batch's.
    const ok = await recordAnswers(
      trx,
      outcomeAnswers.flatMap((answer, i) =>
        claims[i] === 'claimed' ? [{ ...items[i]!.claim, status: answer.status, body: answer.body }] : [],
      ),
    )
    if (!ok) throw new ConcurrentFirstUse()
    return { kind: 'applied', answers: outcomeAnswers }
  }

  /** Forgets keys older than the retention; the worker calls it. */
  purgeOlderThan(cutoff: Date): Promise<number> {
    return purgeKeysOlderThan(this.db, cutoff)
  }

  /** Runs `execute` as the key's one execution in this process, counting replays and conflicts. */
  private async once(claim: KeyClaim, execute: () => Promise<RecordedAnswer>): Promise<RecordedAnswer> {
    try {
      const answer = await this.onceInProcess(claim, execute)
      if (answer.replayed) idempotencyReplays.inc()
      return answer
    } catch (error) {
      throw countKeyConflict(error)
    }
  }

  private async onceInProcess(
    claim: KeyClaim,
    execute: () => Promise<RecordedAnswer>,
  ): Promise<RecordedAnswer> {
    const slot = `${claim.scope} ${claim.key}`
    if (this.inFlight.has(slot)) {
      // Another request of this process holds the key. If that one is only replaying a stored
      // answer, this one may replay it too: only a first execution still running is a 409.
      return storedAnswer(this.db, claim)
    }
    this.inFlight.add(slot)
    try {
      return await execute()
    } finally {
      this.inFlight.delete(slot)
    }
  }

  private async attemptOnce(
    claim: KeyClaim,
    work: (trx: Trx) => Promise<IdempotentResult>,
    renderRefusal: RenderRefusal,
  ): Promise<RecordedAnswer> {
    try {
      return await this.attempt(claim, work, renderRefusal)
    } catch (error) {
      if (!(error instanceof ConcurrentFirstUse)) throw error
      // Another process recorded this key between our snapshot and our insert: run again, which replays it.
      return this.attempt(claim, work, renderRefusal)
    }
  }

  private async attempt(
    claim: KeyClaim,
    work: (trx: Trx) => Promise<IdempotentResult>,
    renderRefusal: RenderRefusal,
  ): Promise<RecordedAnswer> {
    try {
      return await this.changes.transaction(this.db, async (trx) => {
        const claimed = (await claimKeys(trx, [claim]))[0]!
        if (claimed instanceof AppError) throw claimed
        if (claimed !== 'claimed') return claimed

        const response = await work(trx)
        const body = JSON.stringify(response.body)
        if (!(await recordAnswer(trx, claim, response.status, body))) throw new ConcurrentFirstUse()
        return { status: response.status, body, replayed: false }
      })
    } catch (error) {
      if (!isBusinessRefusal(error)) throw error
      // The work was rolled back whole; the refusal is recorded on its own so that a retry gets
      // the same answer.
      return this.recordRefusal(claim, error, renderRefusal)
    }
  }

  /** Records a refusal; if another process recorded this key in between, its answer stands. */
  private async recordRefusal(
    claim: KeyClaim,
    error: AppError,
    renderRefusal: RenderRefusal,
  ): Promise<RecordedAnswer> {
    const body = JSON.stringify(renderRefusal(error))
    if (!(await recordAnswer(this.db, claim, error.status, body))) return storedAnswer(this.db, claim)
    return { status: error.status, body, replayed: false }
  }

  /**
   * The batch size follows the load rather than a fixed cadence: while a batch runs, the
   * movements that arrive wait and form the next one, so a batch holds what arrived during the
   * one before it (one alone when the process is idle, up to MAX_BATCH under load). Another batch
   * runs beside it only when a full one is waiting, or when the waiting ones have waited four
   * times as long as a batch usually takes (a batch stuck behind a lock elsewhere must not hold up
   * every other movement). Measured in issue 15: four small batches at once cost more CPU and
   * PostgreSQL work per transfer than one large one, and hot-wallet throughput fell with them.
   */
  private startBatches(): void {
    while (this.batchesRunning < this.concurrentBatches && this.queue.length > 0) {
      const fullBatchWaiting = this.queue.length >= MAX_BATCH
      const waitedTooLong = this.oldestWaitMs() >= this.stallAfterMs()
      if (this.batchesRunning > 0 && !fullBatchWaiting && !waitedTooLong) {
        this.armStallTimer()
        return
      }
      const batch = this.queue.splice(0, MAX_BATCH)
      this.batchesRunning += 1
      const started = performance.now()
      void this.postBatch(batch).finally(() => {
        this.batchesRunning -= 1
        this.noteBatchTook(performance.now() - started)
        this.startBatches()
      })
    }
  }

  private noteBatchTook(ms: number): void {
    this.batchMs = this.batchMs === 0 ? ms : this.batchMs * 0.8 + ms * 0.2
  }

  private stallAfterMs(): number {
    return Math.max(MIN_STALL_MS, STALL_FACTOR * this.batchMs)
  }

  private oldestWaitMs(): number {
    const oldest = this.queue[0]
    return oldest ? performance.now() - oldest.queuedAt : 0
  }

  private armStallTimer(): void {
    if (this.stallTimer) return
    const delay = Math.max(1, this.stallAfterMs() - this.oldestWaitMs())
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined
      this.startBatches()
    }, delay)
    // A timer of the write path must not keep a process alive that is otherwise done.
    this.stallTimer.unref()
  }

  private async postBatch(batch: BatchItem[]): Promise<void> {
    groupCommitBatchSize.observe(batch.length)
    let answers: (RecordedAnswer | AppError)[]
    try {
      answers = await this.changes.transaction(this.db, (trx) => this.postBatchIn(trx, batch))
    } catch (error) {
      // One movement the engine could not refuse cleanly (or a key recorded by another process
      // meanwhile) must not fail its neighbours: each runs again alone, as run() would run it.
      if (batch.length === 1 && !(error instanceof ConcurrentFirstUse)) {
        batch[0]!.reject(error)
        return
      }
      // With the database down, one by one would only fail again each after its own connect
      // timeout: every movement of the batch answers 503 now, and none was recorded.
      if (isDatabaseUnavailable(error)) {
        for (const item of batch) item.reject(error)
        return
      }
      await Promise.all(
        batch.map((item) =>
          this.attemptOnce(
            item.claim,
            async (trx) => ({ status: 201, body: item.render(await this.engine.postOne(trx, item.posting)) }),
            item.renderRefusal,
          ).then(item.resolve, item.reject),
        ),
      )
      return
    }
    answers.forEach((answer, index) => {
      const item = batch[index]!
      if (answer instanceof AppError) item.reject(answer)
      else item.resolve(answer)
    })
  }

  private async postBatchIn(trx: Trx, batch: BatchItem[]): Promise<(RecordedAnswer | AppError)[]> {
    const claims = await claimKeys(
      trx,
      batch.map((item) => item.claim),
    )
    const answers: (RecordedAnswer | AppError)[] = new Array(batch.length)
    const toPost: number[] = []
    claims.forEach((claimed, index) => {
      if (claimed === 'claimed') toPost.push(index)
      else answers[index] = claimed
    })
    if (toPost.length === 0) return answers

    // The answers are rendered and recorded in the engine's own write statement.
    const { answers: recordedAnswers, recorded } = await this.engine.postRecording(
      trx,
      toPost.map((index) => batch[index]!.posting),
      (outcomes) =>
        outcomes.map((outcome, j) => {
          const item = batch[toPost[j]!]!
          return {
            ...item.claim,
            status: outcome.ok ? 201 : outcome.error.status,
            body: JSON.stringify(
              outcome.ok ? item.render(outcome.posted) : item.renderRefusal(outcome.error),
            ),
          }
        }),
    )
    if (!recorded) throw new ConcurrentFirstUse()
    recordedAnswers.forEach((answer, j) => {
      answers[toPost[j]!] = { status: answer.status, body: answer.body, replayed: false }
    })
    return answers
  }
}
