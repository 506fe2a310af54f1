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
