import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sql } from 'kysely'
import { principalOf } from '../auth/access.js'
import type { Db } from '../db/database.js'
import { isDatabaseUnavailable } from '../db/unavailable.js'
import type { PostedTransaction, PostingEngine, PostingRequest, Trx } from '../ledger/posting-engine.js'
import { AppError } from '../errors.js'
import { IdempotencyKeyInFlight, IdempotencyKeyRequired, IdempotencyKeyReused } from './idempotency.errors.js'
import { PROBLEM_CONTENT_TYPE, problemBody } from './problem-handler.js'

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key'
export const IDEMPOTENCY_REPLAYED_HEADER = 'idempotency-replayed'
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8'
const ACCEPTABLE_KEY = /^[\x21-\x7e]{1,255}$/

/** What a money route answers; the body is stored as sent, so a replay is byte for byte. */
export interface IdempotentResponse {
  status: number
  body: unknown
}

/** JSON with object keys sorted, so {a,b} and {b,a} are the same request. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

function fingerprintOf(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${request.routeOptions.url}\n`)
    .update(canonicalJson(request.params ?? {}))
    .update('\n')
    .update(canonicalJson(request.body ?? null))
    .digest('base64url')
}

class ConcurrentFirstUse extends Error {}

/** At most this many movements share a database transaction. */
const MAX_BATCH = 100
/**
 * Batches in flight at once per process on PostgreSQL; more waiting movements join the next
 * batch. PGlite has one connection, so there one batch at a time is all that can run anyway.
 */
export const CONCURRENT_BATCHES_ON_POSTGRES = 4

interface KeyClaim {
  scope: string
  key: string
  fingerprint: string
}

type StoredAnswer = IdempotentResponse & { replayed: boolean }

interface BatchItem {
  request: FastifyRequest
  claim: KeyClaim
  posting: PostingRequest
  render: (posted: PostedTransaction) => unknown
  resolve: (answer: StoredAnswer) => void
  reject: (error: unknown) => void
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

/**
 * Idempotency-Key handling (IETF draft-ietf-httpapi-idempotency-key-header), keyed by caller.
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
export class IdempotencyStore {
  private readonly inFlight = new Set<string>()
  private readonly queue: BatchItem[] = []
  private batchesRunning = 0

  constructor(
    private readonly db: Db,
    private readonly engine: PostingEngine,
    private readonly concurrentBatches: number,
  ) {}

  /** Runs `work` in its own database transaction with the key's record. */
  run(
    request: FastifyRequest,
    reply: FastifyReply,
    work: (trx: Trx) => Promise<IdempotentResponse>,
  ): Promise<void> {
    return this.respond(request, reply, (claim) => this.attemptOnce(request, claim, work))
  }

  /**
   * A plain movement (deposit, withdrawal, transfer, purchase): built outside the database, then
   * posted with the movements of other callers that are waiting at the same moment, in one
   * database transaction: one idempotency lookup, one lock statement, one write, one commit for
   * the lot. Each movement still succeeds or fails alone and gets its own record; if the batch
   * as a whole fails, each of its movements is run again on its own.
   */
  postMovement(
    request: FastifyRequest,
    reply: FastifyReply,
    build: () => Promise<PostingRequest>,
    render: (posted: PostedTransaction) => unknown,
  ): Promise<void> {
    return this.respond(request, reply, async (claim) => {
      let posting: PostingRequest
      try {
        posting = await build()
      } catch (error) {
        if (!isBusinessRefusal(error)) throw error
        return this.recordRefusal(request, claim, error)
      }
      return new Promise<StoredAnswer>((resolve, reject) => {
        this.queue.push({ request, claim, posting, render, resolve, reject })
        this.startBatches()
      })
    })
  }

  private async respond(
    request: FastifyRequest,
    reply: FastifyReply,
    execute: (claim: KeyClaim) => Promise<StoredAnswer>,
  ): Promise<void> {
    const key = request.headers[IDEMPOTENCY_KEY_HEADER]
    if (typeof key !== 'string' || !ACCEPTABLE_KEY.test(key)) throw new IdempotencyKeyRequired()
    const principal = principalOf(request)
    const scope = `${principal.kind}:${principal.id}`
    const fingerprint = fingerprintOf(request)
    const claim: KeyClaim = { scope, key, fingerprint }
    const slot = `${scope} ${key}`
    let stored: StoredAnswer
    if (this.inFlight.has(slot)) {
      // Another request of this process holds the key. If that one is only replaying a stored
      // answer, this one may replay it too: only a first execution still running is a 409.
      stored = await this.storedAnswer(scope, key, fingerprint)
    } else {
      this.inFlight.add(slot)
      try {
        stored = await execute(claim)
      } finally {
        this.inFlight.delete(slot)
      }
    }
    if (stored.replayed) reply.header(IDEMPOTENCY_REPLAYED_HEADER, 'true')
    // Awaiting the reply resolves when the response has been written, so the handler can
    // resolve with nothing and Fastify does not try to send a second time.
    await reply
      .status(stored.status)
      .type(stored.status >= 400 ? PROBLEM_CONTENT_TYPE : JSON_CONTENT_TYPE)
      .send(stored.body as string)
  }

  /** The recorded answer of a key, read without waiting on anyone; none recorded yet means in flight. */
  private async storedAnswer(
    scope: string,
    key: string,
    fingerprint: string,
  ): Promise<IdempotentResponse & { replayed: boolean }> {
    const row = await this.db
      .selectFrom('idempotency_keys')
      .select(['fingerprint', 'status_code', 'response_body'])
      .where('scope', '=', scope)
      .where('key', '=', key)
      .executeTakeFirst()
    if (!row) throw new IdempotencyKeyInFlight()
    if (row.fingerprint !== fingerprint) throw new IdempotencyKeyReused()
    return { status: row.status_code, body: row.response_body, replayed: true }
  }

  private async attemptOnce(
    request: FastifyRequest,
    claim: KeyClaim,
    work: (trx: Trx) => Promise<IdempotentResponse>,
  ): Promise<StoredAnswer> {
    try {
      return await this.attempt(request, claim, work)
    } catch (error) {
      if (!(error instanceof ConcurrentFirstUse)) throw error
      // Another process recorded this key between our snapshot and our insert: run again, which replays it.
      return this.attempt(request, claim, work)
    }
  }

  private async attempt(
    request: FastifyRequest,
    { scope, key, fingerprint }: KeyClaim,
    work: (trx: Trx) => Promise<IdempotentResponse>,
  ): Promise<StoredAnswer> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const claimed = (await this.claimKeys(trx, [{ scope, key, fingerprint }]))[0]!
        if (claimed instanceof AppError) throw claimed
        if (claimed !== 'claimed') return claimed

        const response = await work(trx)
        const body = JSON.stringify(response.body)
        if (!(await this.record(trx, scope, key, fingerprint, response.status, body)))
          throw new ConcurrentFirstUse()
        return { status: response.status, body, replayed: false }
      })
    } catch (error) {
      if (!isBusinessRefusal(error)) throw error
      // The work was rolled back whole; the refusal is recorded on its own so that a retry gets
      // the same answer.
      return this.recordRefusal(request, { scope, key, fingerprint }, error)
    }
  }

  /** Records a refusal; if another process recorded this key in between, its answer stands. */
  private async recordRefusal(
    request: FastifyRequest,
    claim: KeyClaim,
    error: AppError,
  ): Promise<StoredAnswer> {
    const body = JSON.stringify(problemBody(error, request))
    if (!(await this.record(this.db, claim.scope, claim.key, claim.fingerprint, error.status, body))) {
      return this.storedAnswer(claim.scope, claim.key, claim.fingerprint)
    }
    return { status: error.status, body, replayed: false }
  }

  private startBatches(): void {
    while (this.batchesRunning < this.concurrentBatches && this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH)
      this.batchesRunning += 1
      void this.postBatch(batch).finally(() => {
        this.batchesRunning -= 1
        this.startBatches()
      })
    }
  }

  private async postBatch(batch: BatchItem[]): Promise<void> {
    let answers: (StoredAnswer | AppError)[]
    try {
      answers = await this.db.transaction().execute((trx) => this.postBatchIn(trx, batch))
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
          this.attemptOnce(item.request, item.claim, async (trx) => ({
            status: 201,
            body: item.render(await this.engine.postOne(trx, item.posting)),
          })).then(item.resolve, item.reject),
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

  /**
   * Per key, in one statement: its recorded answer (a replay, or 422 if the request differs),
   * 409 if another transaction holds it, or 'claimed': this transaction now holds it.
   */
  private async claimKeys(trx: Trx, claims: KeyClaim[]): Promise<(StoredAnswer | AppError | 'claimed')[]> {
    const { rows } = await sql<{
      locked: boolean
      fingerprint: string | null
      status_code: number | null
      response_body: string | null
    }>`
      select pg_try_advisory_xact_lock(hashtextextended(c.scope || ' ' || c.key, 0)) as locked,
        k.fingerprint, k.status_code, k.response_body
      from unnest(${claims.map((c) => c.scope)}::text[], ${claims.map((c) => c.key)}::text[])
        with ordinality as c(scope, key, position)
      left join idempotency_keys k on k.scope = c.scope and k.key = c.key
      order by c.position
    `.execute(trx)
    return rows.map((row, index) => {
      if (row.fingerprint !== null) {
        return row.fingerprint === claims[index]!.fingerprint
          ? { status: row.status_code!, body: row.response_body!, replayed: true }
          : new IdempotencyKeyReused()
      }
      return row.locked ? 'claimed' : new IdempotencyKeyInFlight()
    })
  }

  private async postBatchIn(trx: Trx, batch: BatchItem[]): Promise<(StoredAnswer | AppError)[]> {
    const claims = await this.claimKeys(
      trx,
      batch.map((item) => item.claim),
    )
    const answers: (StoredAnswer | AppError)[] = new Array(batch.length)
    const toPost: number[] = []
    claims.forEach((claimed, index) => {
      if (claimed === 'claimed') toPost.push(index)
      else answers[index] = claimed
    })
    if (toPost.length === 0) return answers

    const outcomes = await this.engine.post(
      trx,
      toPost.map((index) => batch[index]!.posting),
    )
    const records = outcomes.map((outcome, j) => {
      const item = batch[toPost[j]!]!
      const status = outcome.ok ? 201 : outcome.error.status
      const body = JSON.stringify(
        outcome.ok ? item.render(outcome.posted) : problemBody(outcome.error, item.request),
      )
      answers[toPost[j]!] = { status, body, replayed: false }
      return { claim: item.claim, status, body }
    })
    const inserted = await sql`
      insert into idempotency_keys (scope, key, fingerprint, status_code, response_body)
      select * from unnest(
        ${records.map((r) => r.claim.scope)}::text[], ${records.map((r) => r.claim.key)}::text[],
        ${records.map((r) => r.claim.fingerprint)}::text[], ${records.map((r) => r.status)}::int[],
        ${records.map((r) => r.body)}::text[]
      )
      on conflict do nothing
    `.execute(trx)
    if (inserted.numAffectedRows !== BigInt(records.length)) throw new ConcurrentFirstUse()
    return answers
  }

  /** Stores an answer; false when the key already has one. */
  private async record(
    db: Db | Trx,
    scope: string,
    key: string,
    fingerprint: string,
    status: number,
    body: string,
  ): Promise<boolean> {
    const inserted = await sql`
      insert into idempotency_keys (scope, key, fingerprint, status_code, response_body)
      values (${scope}, ${key}, ${fingerprint}, ${status}, ${body})
      on conflict do nothing
    `.execute(db)
    return inserted.numAffectedRows !== 0n
  }

  /** Forgets keys older than the retention; the worker calls it. */
  async purgeOlderThan(cutoff: Date): Promise<number> {
    const result = await this.db
      .deleteFrom('idempotency_keys')
      .where('created_at', '<', cutoff)
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }
}
