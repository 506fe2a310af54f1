import { sql } from 'kysely'
import { uuidv7 } from 'uuidv7'
import type { Db, Trx } from '../db/database.js'

/**
 * An event waiting in the outbox. It is written in the same database transaction as the change
 * it reports, so a committed change always has its event and a rolled-back one never does.
 */
export interface OutboxEvent {
  id: string
  type: string
  aggregateType: string
  aggregateId: string
  payload: Record<string, unknown>
}

export function outboxEvent(
  type: string,
  aggregate: { type: string; id: string },
  payload: Record<string, unknown>,
): OutboxEvent {
  return { id: uuidv7(), type, aggregateType: aggregate.type, aggregateId: aggregate.id, payload }
}

/** Writes events to the outbox, in the caller's transaction (the change they report commits with them). */
export async function insertOutboxEvents(db: Db | Trx, events: OutboxEvent[]): Promise<void> {
  if (events.length === 0) return
  await db
    .insertInto('outbox')
    .values(
      events.map((e) => ({
        id: e.id,
        type: e.type,
        aggregate_type: e.aggregateType,
        aggregate_id: e.aggregateId,
        payload: JSON.stringify(e.payload),
      })),
    )
    .execute()
}

/** The unpublished part of the outbox, as the operators' overview shows it. */
export interface OutboxBacklogRow {
  /** The database's clock, the one the relay and the ages use. */
  now: Date
  pending: number
  oldest_pending_at: Date | null
  oldest_age_seconds: number | null
}

export async function outboxBacklog(db: Db): Promise<OutboxBacklogRow> {
  // Through the partial index outbox_unpublished: only unpublished rows are read. The count is
  // cast to int: it is bounded by events that wait, far below 2^31 on any working deployment.
  const { rows } = await sql<OutboxBacklogRow>`
    select statement_timestamp() as now,
      count(*)::int as pending,
      min(created_at) as oldest_pending_at,
      extract(epoch from statement_timestamp() - min(created_at))::float8 as oldest_age_seconds
    from outbox where published_at is null
  `.execute(db)
  return rows[0]!
}
