import { uuidv7 } from 'uuidv7'

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
