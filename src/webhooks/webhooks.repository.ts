import { type Selectable, sql, type Updateable } from 'kysely'
import type { Db, Trx } from '../db/database.js'
import type { OutboxRow } from '../events/relay.js'
import type { DeliveryStatus, WebhookDeliveriesTable, WebhookSubscriptionsTable } from './webhooks.tables.js'

type Queryable = Db | Trx
export type SubscriptionRow = Selectable<WebhookSubscriptionsTable>
export type DeliveryRow = Selectable<WebhookDeliveriesTable>

export interface NewSubscription {
  id: string
  ownerKind: 'user' | 'api_key'
  ownerId: string
  ownerIsAdmin: boolean
  url: string
  eventTypes: string[]
  walletId: string | null
  userId: string | null
  description: string | null
  secret: string
}

export async function insertSubscription(trx: Trx, s: NewSubscription): Promise<SubscriptionRow> {
  return trx
    .insertInto('webhook_subscriptions')
    .values({
      id: s.id,
      owner_kind: s.ownerKind,
      owner_id: s.ownerId,
      owner_is_admin: s.ownerIsAdmin,
      url: s.url,
      event_types: s.eventTypes,
      wallet_id: s.walletId,
      user_id: s.userId,
      description: s.description,
      secret: s.secret,
    })
    .returningAll()
    .executeTakeFirstOrThrow()
}

/** A subscription not deleted; `forUpdate` inside a change. */
export async function findSubscription(
  db: Queryable,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<SubscriptionRow | undefined> {
  let query = db
    .selectFrom('webhook_subscriptions')
    .selectAll()
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
  if (options.forUpdate) query = query.forUpdate()
  return query.executeTakeFirst()
}

/** Newest first (ids are UUIDv7); `ownerId` null lists everyone's (admin). */
export async function listSubscriptions(
  db: Queryable,
  page: { ownerId: string | null; limit: number; before?: string | undefined },
): Promise<SubscriptionRow[]> {
  let query = db
    .selectFrom('webhook_subscriptions')
    .selectAll()
    .where('deleted_at', 'is', null)
    .orderBy('id', 'desc')
    .limit(page.limit)
  if (page.ownerId) query = query.where('owner_id', '=', page.ownerId)
  if (page.before) query = query.where('id', '<', page.before)
  return query.execute()
}

export type SubscriptionChanges = Partial<
  Pick<
    Updateable<WebhookSubscriptionsTable>,
    | 'url'
    | 'event_types'
    | 'wallet_id'
    | 'user_id'
    | 'description'
    | 'status'
    | 'disabled_reason'
    | 'consecutive_failures'
    | 'secret'
    | 'previous_secret'
    | 'previous_secret_expires_at'
    | 'deleted_at'
  >
>

export async function updateSubscription(
  trx: Trx,
  id: string,
  changes: SubscriptionChanges,
): Promise<SubscriptionRow> {
  return trx
    .updateTable('webhook_subscriptions')
    .set({ ...changes, updated_at: sql<Date>`statement_timestamp()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
}

export async function cancelPendingDeliveries(trx: Trx, subscriptionId: string): Promise<void> {
  await trx
    .updateTable('webhook_deliveries')
    .set({ status: 'cancelled', completed_at: sql<Date>`statement_timestamp()` })
    .where('subscription_id', '=', subscriptionId)
    .where('status', '=', 'pending')
    .execute()
}

/** Pending deliveries that wait for a retry become due now (a subscription enabled again). */
export async function duePendingNow(trx: Trx, subscriptionId: string): Promise<void> {
  await sql`
    update webhook_deliveries set next_attempt_at = least(next_attempt_at, statement_timestamp())
    where subscription_id = ${subscriptionId} and status = 'pending'
  `.execute(trx)
}

/** Subscriptions the fan-out matches events against: enabled and not deleted. */
export async function listDeliverableSubscriptions(db: Queryable): Promise<SubscriptionRow[]> {
  return db
    .selectFrom('webhook_subscriptions')
    .selectAll()
    .where('deleted_at', 'is', null)
    .where('status', '=', 'enabled')
    .orderBy('id')
    .execute()
}

export interface NewDelivery {
  id: string
  subscriptionId: string
  eventId: string
  eventType: string
  orderKeys: string[]
  payload: string
  occurredAt: string
}

function deliveryValues(d: NewDelivery) {
  return {
    id: d.id,
    subscription_id: d.subscriptionId,
    event_id: d.eventId,
    event_type: d.eventType,
    order_keys: d.orderKeys,
    payload: d.payload,
    occurred_at: d.occurredAt,
  }
}

/** One statement; a redelivered event finds its deliveries there and adds nothing. */
export async function insertDeliveries(db: Queryable, deliveries: NewDelivery[]): Promise<number> {
  if (deliveries.length === 0) return 0
  const result = await db
    .insertInto('webhook_deliveries')
    .values(deliveries.map(deliveryValues))
    .onConflict((oc) => oc.columns(['subscription_id', 'event_id']).doNothing())
    .executeTakeFirst()
  return Number(result.numInsertedOrUpdatedRows ?? 0n)
}

/**
 * Replay: each event gets a delivery again, created if missing, else back to pending with its
 * retry schedule restarted (attempts keeps counting). Returns how many.
 */
export async function upsertReplayedDeliveries(db: Queryable, deliveries: NewDelivery[]): Promise<number> {
  if (deliveries.length === 0) return 0
  const result = await db
    .insertInto('webhook_deliveries')
    .values(deliveries.map(deliveryValues))
    .onConflict((oc) =>
      oc.columns(['subscription_id', 'event_id']).doUpdateSet({
        status: 'pending',
        cycle_attempts: 0,
        next_attempt_at: sql<Date>`statement_timestamp()`,
        completed_at: null,
      }),
    )
    .executeTakeFirst()
  return Number(result.numInsertedOrUpdatedRows ?? 0n)
}

export async function replayDelivery(
  db: Queryable,
  subscriptionId: string,
  deliveryId: string,
): Promise<boolean> {
  const result = await db
    .updateTable('webhook_deliveries')
    .set({
      status: 'pending',
      cycle_attempts: 0,
      next_attempt_at: sql<Date>`statement_timestamp()`,
      completed_at: null,
    })
    .where('subscription_id', '=', subscriptionId)
    .where('id', '=', deliveryId)
    .executeTakeFirst()
  return result.numUpdatedRows !== 0n
}

/** Newest first by seq. */
export async function listDeliveries(
  db: Queryable,
  page: {
    subscriptionId: string
    status?: DeliveryStatus | undefined
    limit: number
    beforeSeq?: bigint | undefined
  },
): Promise<DeliveryRow[]> {
  let query = db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('subscription_id', '=', page.subscriptionId)
    .orderBy('seq', 'desc')
    .limit(page.limit)
  if (page.status) query = query.where('status', '=', page.status)
  if (page.beforeSeq !== undefined) query = query.where('seq', '<', page.beforeSeq)
  return query.execute()
}

export async function findDelivery(
  db: Queryable,
  subscriptionId: string,
  deliveryId: string,
): Promise<DeliveryRow | undefined> {
  return db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('subscription_id', '=', subscriptionId)
    .where('id', '=', deliveryId)
    .executeTakeFirst()
}

export { insertOutboxEvents } from '../events/outbox.js'

export async function countOutboxEvents(db: Queryable, range: { from: Date; to: Date }): Promise<number> {
  const { rows } = await sql<{ count: number }>`
    select count(*)::int as count from outbox where created_at >= ${range.from} and created_at < ${range.to}
  `.execute(db)
  return rows[0]?.count ?? 0
}

/** The outbox's events in [from, to), in the order they were published. */
export async function outboxEventsBetween(
  db: Queryable,
  range: { from: Date; to: Date },
): Promise<OutboxRow[]> {
  const { rows } = await sql<OutboxRow>`
    select id, type, aggregate_type, aggregate_id, payload, created_at from outbox
    where created_at >= ${range.from} and created_at < ${range.to}
    order by seq
  `.execute(db)
  return rows
}

export async function walletOwner(db: Queryable, walletId: string): Promise<string | null> {
  const row = await db
    .selectFrom('accounts')
    .select('user_id')
    .where('id', '=', walletId)
    .where('kind', '=', 'wallet')
    .executeTakeFirst()
  return row?.user_id ?? null
}

/** A user known to Coffer: signed up, or owning a wallet opened for them by an admin or service. */
export async function userKnown(db: Queryable, userId: string): Promise<boolean> {
  const { rows } = await sql<{ known: boolean }>`
    select exists (select 1 from users where id = ${userId})
      or exists (select 1 from accounts where kind = 'wallet' and user_id = ${userId}) as known
  `.execute(db)
  return rows[0]?.known ?? false
}

// ---- dispatch -------------------------------------------------------------------------------

/** Enabled subscriptions with a due pending delivery whose lease is free, expired or `owner`'s. */
export async function subscriptionsWithDueWork(
  db: Queryable,
  owner: string,
  limit: number,
): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    select s.id from webhook_subscriptions s
    where s.status = 'enabled' and s.deleted_at is null
      and (s.lease_until is null or s.lease_until < statement_timestamp() or s.lease_owner = ${owner})
      and exists (
        select 1 from webhook_deliveries d
        where d.subscription_id = s.id and d.status = 'pending' and d.next_attempt_at <= statement_timestamp()
      )
    limit ${limit}
  `.execute(db)
  return rows.map((row) => row.id)
}

export interface LeasedSubscription {
  id: string
  url: string
  secrets: string[]
}

/**
 * Takes or renews the dispatch lease of an enabled subscription: free, expired, or already
 * `owner`'s. Null when another process holds it or the subscription is disabled or deleted.
 */
export async function takeLease(
  db: Queryable,
  id: string,
  owner: string,
  leaseMs: number,
): Promise<LeasedSubscription | null> {
  const { rows } = await sql<{
    url: string
    secret: string
    previous_secret: string | null
    previous_valid: boolean
  }>`
    update webhook_subscriptions
    set lease_owner = ${owner}, lease_until = statement_timestamp() + make_interval(secs => ${leaseMs / 1000})
    where id = ${id} and status = 'enabled' and deleted_at is null
      and (lease_until is null or lease_until < statement_timestamp() or lease_owner = ${owner})
    returning url, secret, previous_secret,
      coalesce(previous_secret_expires_at > statement_timestamp(), false) as previous_valid
  `.execute(db)
  const row = rows[0]
  if (!row) return null
  const secrets = row.previous_secret && row.previous_valid ? [row.secret, row.previous_secret] : [row.secret]
  return { id, url: row.url, secrets }
}

export async function releaseLease(db: Queryable, id: string, owner: string): Promise<void> {
  await sql`
    update webhook_subscriptions set lease_owner = null, lease_until = null
    where id = ${id} and lease_owner = ${owner}
  `.execute(db)
}

export interface PendingDelivery {
  id: string
  seq: bigint
  order_keys: string[]
  payload: string
  cycle_attempts: number
  due: boolean
}

/** The subscription's earliest pending deliveries, in delivery order. */
export async function pendingWindow(
  db: Queryable,
  subscriptionId: string,
  limit: number,
): Promise<PendingDelivery[]> {
  const { rows } = await sql<PendingDelivery>`
    select id, seq, order_keys, payload, cycle_attempts, next_attempt_at <= statement_timestamp() as due
    from webhook_deliveries
    where subscription_id = ${subscriptionId} and status = 'pending'
    order by seq limit ${limit}
  `.execute(db)
  return rows
}

/** The outcome of one attempt as it is written. */
export interface AttemptRecord {
  id: string
  status: 'pending' | 'succeeded' | 'failed'
  attemptedAt: string
  /** When the next attempt is due; null when the delivery is over. */
  nextAttemptAt: string | null
  statusCode: number | null
  latencyMs: number
  error: string | null
  responseBody: string
}

/**
 * Writes a batch of attempts in one statement. A delivery no longer pending (cancelled by a
 * delete while its request ran) keeps its status.
 */
export async function recordAttempts(db: Queryable, records: AttemptRecord[]): Promise<void> {
  if (records.length === 0) return
  await sql`
    update webhook_deliveries d set
      status = v.status,
      attempts = d.attempts + 1,
      cycle_attempts = d.cycle_attempts + 1,
      next_attempt_at = coalesce(v.next_attempt_at, d.next_attempt_at),
      last_attempt_at = v.attempted_at,
      last_status_code = v.status_code,
      last_latency_ms = v.latency_ms,
      last_error = v.error,
      last_response_body = v.response_body,
      completed_at = case when v.status = 'pending' then null else statement_timestamp() end
    from jsonb_to_recordset(${JSON.stringify(records.map(attemptJson))}::jsonb) as v(
      id uuid, status text, attempted_at timestamptz, next_attempt_at timestamptz,
      status_code int, latency_ms int, error text, response_body text
    )
    where d.id = v.id and d.status = 'pending'
  `.execute(db)
}

function attemptJson(r: AttemptRecord) {
  return {
    id: r.id,
    status: r.status,
    attempted_at: r.attemptedAt,
    next_attempt_at: r.nextAttemptAt,
    status_code: r.statusCode,
    latency_ms: Math.round(r.latencyMs),
    error: r.error,
    response_body: r.responseBody,
  }
}

/** Deliveries that failed for good or still wait, and subscriptions disabled, for the overview. */
export interface WebhookBacklogCounts {
  failed: number
  pending: number
  disabled_subscriptions: number
}

export async function webhookBacklogCounts(db: Db): Promise<WebhookBacklogCounts> {
  // Three scalar subqueries, each on its own partial index (or the small subscriptions table).
  // Counts are cast to int: they are bounded by rows that wait or failed, far below 2^31.
  const { rows } = await sql<WebhookBacklogCounts>`
    select
      (select count(*) from webhook_deliveries where status = 'failed')::int as failed,
      (select count(*) from webhook_deliveries where status = 'pending')::int as pending,
      (select count(*) from webhook_subscriptions
        where status = 'disabled' and deleted_at is null)::int as disabled_subscriptions
  `.execute(db)
  return rows[0]!
}

export interface FailedDeliveryRow {
  id: string
  subscription_id: string
  event_type: string
  attempts: number
  last_status_code: number | null
  last_error: string | null
  failed_at: Date
}

/** The newest deliveries that ran out of retries first, through the index webhook_deliveries_failed. */
export async function latestFailedDeliveries(db: Db, limit: number): Promise<FailedDeliveryRow[]> {
  const { rows } = await sql<FailedDeliveryRow>`
    select id, subscription_id, event_type, attempts, last_status_code, last_error, completed_at as failed_at
    from webhook_deliveries where status = 'failed'
    order by completed_at desc limit ${limit}
  `.execute(db)
  return rows
}
