/**
 * The idempotency_keys table: one row per caller and key, holding the answer the first request
 * got. The SQL of group-commit.ts, which decides when each statement runs.
 */
import { sql } from 'kysely'
import type { Db, Trx } from '../db/database.js'
import type { AppError } from '../errors.js'
import { IdempotencyKeyInFlight, IdempotencyKeyReused } from './idempotency.errors.js'

/** Keys are scoped to the caller: two callers may use the same key for different requests. */
export function callerScope(caller: { kind: string; id: string }): string {
  return `${caller.kind}:${caller.id}`
}

/** A caller's claim on a key for one request; the fingerprint tells a retry from another request. */
export interface KeyClaim {
  scope: string
  key: string
  fingerprint: string
}

/** An answer as recorded: the body is the stored JSON text, so a replay is byte for byte. */
export interface RecordedAnswer {
  status: number
  body: string
  /** True when the answer is one a previous request got. */
  replayed: boolean
}

/** The recorded answer of a key, read without waiting on anyone; none recorded yet means in flight. */
export async function storedAnswer(db: Db, { scope, key, fingerprint }: KeyClaim): Promise<RecordedAnswer> {
  const row = await db
    .selectFrom('idempotency_keys')
    .select(['fingerprint', 'status_code', 'response_body'])
    .where('scope', '=', scope)
    .where('key', '=', key)
    .executeTakeFirst()
  if (!row) throw new IdempotencyKeyInFlight()
  if (row.fingerprint !== fingerprint) throw new IdempotencyKeyReused()
  return { status: row.status_code, body: row.response_body, replayed: true }
}

/**
 * Per key, in one statement: its recorded answer (a replay, or 422 if the request differs),
 * 409 if another transaction holds it, or 'claimed': this transaction now holds it.
 */
export async function claimKeys(
  trx: Trx,
  claims: KeyClaim[],
): Promise<(RecordedAnswer | AppError | 'claimed')[]> {
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

/** Stores an answer; false when the key already has one. */
export async function recordAnswer(
  db: Db | Trx,
  { scope, key, fingerprint }: KeyClaim,
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

/** A key's answer to store: the claim and what it answered. */
export interface KeyAnswer extends KeyClaim {
  status: number
  body: string
}

/** Stores the answers of a batch in one statement; false when any key already had one. */
export async function recordAnswers(trx: Trx, records: KeyAnswer[]): Promise<boolean> {
  const inserted = await sql`
    insert into idempotency_keys (scope, key, fingerprint, status_code, response_body)
    select * from unnest(
      ${records.map((r) => r.scope)}::text[], ${records.map((r) => r.key)}::text[],
      ${records.map((r) => r.fingerprint)}::text[], ${records.map((r) => r.status)}::int[],
      ${records.map((r) => r.body)}::text[]
    )
    on conflict do nothing
  `.execute(trx)
  return inserted.numAffectedRows === BigInt(records.length)
}

/** Forgets keys older than the retention. */
export async function purgeKeysOlderThan(db: Db, cutoff: Date): Promise<number> {
  const result = await db.deleteFrom('idempotency_keys').where('created_at', '<', cutoff).executeTakeFirst()
  return Number(result.numDeletedRows)
}
