import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sql } from 'kysely'
import { principalOf } from '../auth/access.js'
import type { Db } from '../db/database.js'
import type { Trx } from '../ledger/posting-engine.js'
import { AppError } from './errors.js'
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

  constructor(private readonly db: Db) {}

  async run(
    request: FastifyRequest,
    reply: FastifyReply,
    work: (trx: Trx) => Promise<IdempotentResponse>,
  ): Promise<void> {
    const key = request.headers[IDEMPOTENCY_KEY_HEADER]
    if (typeof key !== 'string' || !ACCEPTABLE_KEY.test(key)) throw new IdempotencyKeyRequired()
    const principal = principalOf(request)
    const scope = `${principal.kind}:${principal.id}`
    const fingerprint = fingerprintOf(request)
    const slot = `${scope} ${key}`
    let stored: IdempotentResponse & { replayed: boolean }
    if (this.inFlight.has(slot)) {
      // Another request of this process holds the key. If that one is only replaying a stored
      // answer, this one may replay it too: only a first execution still running is a 409.
      stored = await this.storedAnswer(scope, key, fingerprint)
    } else {
      this.inFlight.add(slot)
      try {
        try {
          stored = await this.attempt(request, scope, key, fingerprint, work)
        } catch (error) {
          if (!(error instanceof ConcurrentFirstUse)) throw error
          // Another process recorded this key between our snapshot and our insert: run again, which replays it.
          stored = await this.attempt(request, scope, key, fingerprint, work)
        }
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

  private async attempt(
    request: FastifyRequest,
    scope: string,
    key: string,
    fingerprint: string,
    work: (trx: Trx) => Promise<IdempotentResponse>,
  ): Promise<IdempotentResponse & { replayed: boolean }> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const { rows } = await sql<{
          locked: boolean
          fingerprint: string | null
          status_code: number | null
          response_body: string | null
        }>`
          select l.locked, k.fingerprint, k.status_code, k.response_body
          from (select pg_try_advisory_xact_lock(hashtextextended(${`${scope} ${key}`}, 0)) as locked) l
          left join idempotency_keys k on k.scope = ${scope} and k.key = ${key}
        `.execute(trx)
        const found = rows[0]!
        if (found.fingerprint !== null) {
          if (found.fingerprint !== fingerprint) throw new IdempotencyKeyReused()
          return { status: found.status_code!, body: found.response_body!, replayed: true }
        }
        if (!found.locked) throw new IdempotencyKeyInFlight()

        const response = await work(trx)
        const body = JSON.stringify(response.body)
        if (!(await this.record(trx, scope, key, fingerprint, response.status, body)))
          throw new ConcurrentFirstUse()
        return { status: response.status, body, replayed: false }
      })
    } catch (error) {
      if (!isBusinessRefusal(error)) throw error
      // The work was rolled back whole; the refusal is recorded on its own so that a retry gets
      // the same answer. If another process recorded this key in between, its answer stands.
      const body = JSON.stringify(problemBody(error, request))
      if (!(await this.record(this.db, scope, key, fingerprint, error.status, body))) {
        return this.storedAnswer(scope, key, fingerprint)
      }
      return { status: error.status, body, replayed: false }
    }
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
