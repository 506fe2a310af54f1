import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Db, Trx } from '../db/database.js'
import { outboxPublished } from '../metrics/events.js'
import type { EventBus, EventEnvelope } from './bus.js'
import { contractVersion } from './contracts.js'

/**
 * The name of the relay's advisory lock (hashed like the idempotency keys' locks): the holder is
 * the leader for one batch. Taken with pg_try_advisory_xact_lock inside the batch's own
 * transaction, so it needs no session state (PgBouncer transaction pooling keeps working) and is
 * released by the commit or rollback, even when the process dies.
 */
export const RELAY_LOCK_NAME = 'coffer.outbox-relay'

export interface OutboxRow {
  id: string
  type: string
  aggregate_type: string
  aggregate_id: string
  payload: Record<string, unknown>
  created_at: Date
}

/** An outbox row as it is published. */
export function toEnvelope(row: OutboxRow): EventEnvelope {
  return {
    id: row.id,
    type: row.type,
    version: contractVersion(row.type),
    occurredAt: row.created_at.toISOString(),
    aggregate: { type: row.aggregate_type, id: row.aggregate_id },
    data: row.payload,
  }
}

/**
 * How one relay at a time is ensured. `advisory-lock`: the batch is one transaction that takes
 * the leader lock, for any number of processes (PostgreSQL). `this-process`: the database has one
 * process (PGlite holds its data directory locked), so relays of this process take turns on the
 * database's turnstile, and no transaction is held while the bus delivers: PGlite is one
 * connection, which an in-process subscriber reading the database would otherwise wait for.
 */
export type RelayLeadership = 'advisory-lock' | 'this-process'

export interface RelayOptions {
  db: Db
  bus: EventBus
  logger: Logger
  /** Default `advisory-lock`. */
  leadership?: RelayLeadership
  /** Rows per batch: one query, one publish (one round of confirms), one update. */
  batchSize: number
  /** A publish that has not resolved by then fails the batch, so its transaction stays short. */
  publishTimeoutMs?: number
  /** First pause after a failed publish; doubles on each failure in a row, up to backoffMaxMs. */
  backoffInitialMs?: number
  backoffMaxMs?: number
}

/** The last batch of each database's relays in this process (`this-process` leadership). */
const turnstiles = new WeakMap<Db, Promise<void>>()

/** The oldest unpublished rows, in the order they must be published. */
async function unpublishedRows(db: Db | Trx, limit: number): Promise<OutboxRow[]> {
  const { rows } = await sql<OutboxRow>`
    select id, type, aggregate_type, aggregate_id, payload, created_at
    from outbox where published_at is null
    order by seq limit ${limit}
  `.execute(db)
  return rows
}

async function markPublished(db: Db | Trx, rows: OutboxRow[]): Promise<void> {
  await sql`
    update outbox set published_at = statement_timestamp()
    where id = any(${rows.map((r) => r.id)}::uuid[])
  `.execute(db)
}

/** The publish of a batch failed (broker down, a subscriber threw): the rows stay unpublished. */
class PublishFailed extends Error {
  constructor(readonly reason: unknown) {
    super(reason instanceof Error ? reason.message : String(reason))
    this.name = 'PublishFailed'
  }
}

export interface OutboxStats {
  /** Rows not yet published. */
  backlog: number
  /** Age of the oldest unpublished row, in seconds; 0 with no backlog. */
  lagSeconds: number
}

/**
 * Publishes the outbox to the bus: at least once, in commit order per aggregate.
 *
 * - A batch is one database transaction: try the leader lock (another worker holding it means
 *   this one has nothing to do), read the oldest unpublished rows by `seq`, publish them (which
 *   resolves after the broker's confirms or the in-process subscribers), mark them published,
 *   commit. A crash or a failed publish before the commit leaves them unpublished, so they are
 *   published again: consumers de-duplicate on the event id. (On PGlite, see RelayLeadership:
 *   the same steps without the transaction, the process being the only one.)
 * - `seq` is drawn under the wallet locks of the change, so it follows commit order for the
 *   events of one wallet (and of its holds and transactions); one leader at a time publishing in
 *   `seq` order keeps that order on the bus, however many workers run.
 * - A failed publish (broker down) is logged once per outage, then retried with a capped
 *   exponential backoff; writes go on meanwhile, the outbox holds their events.
 */
export class OutboxRelay {
  private readonly publishTimeoutMs: number
  private readonly backoffInitialMs: number
  private readonly backoffMaxMs: number
  private failuresInARow = 0
  private pausedUntil = 0

  constructor(private readonly options: RelayOptions) {
    this.publishTimeoutMs = options.publishTimeoutMs ?? 10_000
    this.backoffInitialMs = options.backoffInitialMs ?? 500
    this.backoffMaxMs = options.backoffMaxMs ?? 30_000
  }

  /**
   * Publishes one batch; returns how many rows it published (0 when another worker leads or
   * nothing waits). Throws when the publish fails (the rows stay) or the database does.
   */
  async publishBatch(): Promise<number> {
    if (this.options.leadership === 'this-process') return this.inTurn(() => this.publishBatchAlone())
    const { db, batchSize } = this.options
    return db.transaction().execute(async (trx) => {
      const { rows: lock } = await sql<{ leader: boolean }>`
        select pg_try_advisory_xact_lock(hashtextextended(${RELAY_LOCK_NAME}, 0)) as leader
      `.execute(trx)
      if (!lock[0]?.leader) return 0
      const rows = await unpublishedRows(trx, batchSize)
      if (rows.length === 0) return 0
      await this.publish(rows)
      await markPublished(trx, rows)
      return rows.length
    })
  }

  /** A batch when no other process can relay: read, publish, mark, with no transaction open. */
  private async publishBatchAlone(): Promise<number> {
    const { db, batchSize } = this.options
    const rows = await unpublishedRows(db, batchSize)
    if (rows.length === 0) return 0
    await this.publish(rows)
    await markPublished(db, rows)
    return rows.length
  }

  private async publish(rows: OutboxRow[]): Promise<void> {
    try {
      await this.withTimeout(this.options.bus.publish(rows.map(toEnvelope)))
    } catch (error) {
      throw new PublishFailed(error)
    }
  }

  /** Runs `work` after every batch of this process's relays on the same database has finished. */
  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const { db } = this.options
    const turn = (turnstiles.get(db) ?? Promise.resolve()).then(work)
    turnstiles.set(
      db,
      turn.then(
        () => undefined,
        () => undefined,
      ),
    )
    return turn
  }

  /**
   * One run of the worker job: batches until one is not full, so a backlog drains at full speed.
   * A failed publish ends the run and pauses the relay (backoff); a database failure is thrown
   * for the worker's own database backoff.
   */
  async run(): Promise<number> {
    if (Date.now() < this.pausedUntil) return 0
    let published = 0
    try {
      for (;;) {
        const count = await this.publishBatch()
        published += count
        if (count > 0) outboxPublished.inc(count)
        if (count < this.options.batchSize) break
      }
    } catch (error) {
      if (!(error instanceof PublishFailed)) throw error
      this.failuresInARow++
      const backoffMs = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** (this.failuresInARow - 1))
      this.pausedUntil = Date.now() + backoffMs
      if (this.failuresInARow === 1) {
        this.options.logger.warn(
          { err: error.reason, retryInMs: backoffMs },
          'outbox relay cannot publish; events wait in the outbox',
        )
      }
      return published
    }
    if (this.failuresInARow > 0) {
      this.options.logger.info({ failedAttempts: this.failuresInARow }, 'outbox relay publishing again')
      this.failuresInARow = 0
    }
    return published
  }

  private withTimeout(publish: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`publish not confirmed within ${this.publishTimeoutMs} ms`)),
        this.publishTimeoutMs,
      )
    })
    return Promise.race([publish, timeout]).finally(() => clearTimeout(timer))
  }
}

/** Deletes published rows older than `cutoff`, in chunks; returns how many. */
export async function purgePublishedEvents(db: Db, cutoff: Date, chunk = 10_000): Promise<number> {
  let purged = 0
  for (;;) {
    const result = await sql`
      delete from outbox where id in (
        select id from outbox where published_at < ${cutoff} limit ${chunk}
      )
    `.execute(db)
    const count = Number(result.numAffectedRows ?? 0n)
    purged += count
    if (count < chunk) return purged
  }
}

/** Backlog and lag of the outbox, for /health. */
export async function outboxStats(db: Db): Promise<OutboxStats> {
  const { rows } = await sql<{ backlog: number; lag_seconds: number | null }>`
    select count(*)::int as backlog,
      extract(epoch from statement_timestamp() - min(created_at))::float8 as lag_seconds
    from outbox where published_at is null
  `.execute(db)
  const row = rows[0]
  return {
    backlog: row?.backlog ?? 0,
    lagSeconds: Math.max(0, Math.round((row?.lag_seconds ?? 0) * 1000) / 1000),
  }
}
