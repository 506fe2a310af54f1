import { type Selectable, sql } from 'kysely'
import type { Db, Trx } from '../db/database.js'
import { insertOutboxEvents, type OutboxEvent } from '../events/outbox.js'
import type { OperationStatus, OperationsTable, OperationType, StoredPrincipal } from './operations.tables.js'

type Queryable = Db | Trx
export type OperationRow = Selectable<OperationsTable>

export interface NewOperation {
  id: string
  sender: string
  operationKey: string
  type: OperationType
  ownerUserId: string | null
  principal: StoredPrincipal
  request: Record<string, unknown>
}

function operationValues(operation: NewOperation) {
  const now = new Date()
  return {
    id: operation.id,
    sender: operation.sender,
    operation_key: operation.operationKey,
    type: operation.type,
    owner_user_id: operation.ownerUserId,
    principal: JSON.stringify(operation.principal),
    request: JSON.stringify(operation.request),
    created_at: now,
    updated_at: now,
  }
}

export async function insertOperation(db: Queryable, operation: NewOperation): Promise<void> {
  await db.insertInto('operations').values(operationValues(operation)).execute()
}

/** Records a command's operation once; a redelivery finds the row it recorded the first time. */
export async function insertOperationOnce(db: Queryable, operation: NewOperation): Promise<OperationRow> {
  await db
    .insertInto('operations')
    .values(operationValues(operation))
    .onConflict((oc) => oc.columns(['sender', 'operation_key']).doNothing())
    .execute()
  const row = await findBySenderKey(db, operation.sender, operation.operationKey)
  if (!row) throw new Error(`operation ${operation.sender}/${operation.operationKey} vanished after insert`)
  return row
}

export async function findOperation(db: Queryable, id: string): Promise<OperationRow | undefined> {
  return db.selectFrom('operations').selectAll().where('id', '=', id).executeTakeFirst()
}

export async function findBySenderKey(
  db: Queryable,
  sender: string,
  operationKey: string,
): Promise<OperationRow | undefined> {
  return db
    .selectFrom('operations')
    .selectAll()
    .where('sender', '=', sender)
    .where('operation_key', '=', operationKey)
    .executeTakeFirst()
}

/** accepted -> succeeded | failed, once; false when the operation had already finished. */
export async function finishOperation(
  db: Queryable,
  id: string,
  outcome: { status: Exclude<OperationStatus, 'accepted'>; transactionId: string | null; result: string },
): Promise<boolean> {
  const updated = await db
    .updateTable('operations')
    .set({
      status: outcome.status,
      transaction_id: outcome.transactionId,
      result: outcome.result,
      updated_at: new Date(),
    })
    .where('id', '=', id)
    .where('status', '=', 'accepted')
    .executeTakeFirst()
  return updated.numUpdatedRows !== 0n
}

/** The outbox row of an operation's own event (its success is written by the posting itself). */
export function insertOperationEvent(db: Queryable, event: OutboxEvent): Promise<void> {
  return insertOutboxEvents(db, [event])
}

/**
 * Operations of POST /operations still accepted, last touched before `staleBefore` and created
 * after `notBefore`, oldest first; each is touched, so another run resends it only once it is
 * stale again.
 */
export async function touchStaleAccepted(
  db: Queryable,
  sender: string,
  window: { now: Date; staleBefore: Date; notBefore: Date; limit: number },
): Promise<string[]> {
  const stale = db
    .selectFrom('operations')
    .select('id')
    .where('sender', '=', sender)
    .where('status', '=', 'accepted')
    .where('updated_at', '<', window.staleBefore)
    .where('created_at', '>', window.notBefore)
    .orderBy('created_at')
    .limit(window.limit)
  const rows = await db
    .updateTable('operations')
    .set({ updated_at: window.now })
    .where('id', 'in', stale)
    .where('status', '=', 'accepted')
    .returning('id')
    .execute()
  return rows.map((row) => row.id)
}

/** What still waits (accepted) and what failed for good, as the operators' overview counts them. */
export interface UnsettledOperationCounts {
  failed: number
  accepted: number
  oldest_accepted_at: Date | null
}

export async function unsettledOperationCounts(db: Db): Promise<UnsettledOperationCounts> {
  // The predicate is the one of the partial index operations_unsettled (migration 0016). Counts
  // are cast to int: they are bounded by rows that wait or failed, far below 2^31.
  const { rows } = await sql<UnsettledOperationCounts>`
    select count(*) filter (where status = 'failed')::int as failed,
      count(*) filter (where status = 'accepted')::int as accepted,
      min(created_at) filter (where status = 'accepted') as oldest_accepted_at
    from operations where status in ('accepted', 'failed')
  `.execute(db)
  return rows[0]!
}

export interface FailedOperationRow {
  id: string
  type: string
  sender: string
  code: string | null
  detail: string | null
  failed_at: Date
}

/** The newest failed operations first, for the overview's dead letters. */
export async function latestFailedOperations(db: Db, limit: number): Promise<FailedOperationRow[]> {
  // A failed operation's result is the problem it was refused with.
  const { rows } = await sql<FailedOperationRow>`
    select id, type, sender, result->>'code' as code, result->>'detail' as detail, updated_at as failed_at
    from operations where status = 'failed'
    order by updated_at desc limit ${limit}
  `.execute(db)
  return rows
}
