import type { Logger } from 'pino'
import { uuidv7 } from 'uuidv7'
import { hasRole, type Principal } from '../auth/principal.js'
import type { Db, Trx } from '../db/database.js'
import { EVENT_TYPES } from '../events/contracts.js'
import { topicMatches } from '../events/in-process-bus.js'
import { outboxEvent } from '../events/outbox.js'
import { toEnvelope } from '../events/relay.js'
import { InvalidCursor } from '../pagination.errors.js'
import type { EventPartiesResolver } from './event-parties.js'
import { deliveriesFor, matchableOf } from './fan-out.js'
import {
  InvalidReplayRange,
  ReplayRangeTooLarge,
  UnknownEventType,
  WebhookDeliveryNotFound,
  WebhookFilterNotFound,
  WebhookNotFound,
  WebhookUrlRefused,
} from './webhooks.errors.js'
import * as repo from './webhooks.repository.js'
import {
  type CreatedWebhookView,
  type CreateWebhookInput,
  type DeliveryDetailView,
  type DeliveryView,
  type UpdateWebhookInput,
  WEBHOOK_LIMITS,
  type WebhookView,
} from './webhooks.schemas.js'
import type { DeliveryStatus } from './webhooks.tables.js'

export type UrlCheck = (url: string) => { ok: true; url: URL } | { ok: false; reason: string }

export interface WebhooksServiceDeps {
  db: Db
  logger: Logger
  /** checkWebhookUrl with the configured destination policy. */
  checkUrl: UrlCheck
  newSecret: () => string
  /** WEBHOOK_SECRET_GRACE_HOURS. */
  secretGraceHours: number
  parties: EventPartiesResolver
  /** Outbox events one range replay may go through; default WEBHOOK_LIMITS.replayEvents. */
  replayLimit?: number
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const REPLAY_CHUNK = 1000

function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null
}

export function webhookView(row: repo.SubscriptionRow): WebhookView {
  return {
    id: row.id,
    url: row.url,
    eventTypes: row.event_types,
    walletId: row.wallet_id,
    userId: row.user_id,
    description: row.description,
    status: row.status,
    failing: row.consecutive_failures > 0,
    consecutiveFailures: row.consecutive_failures,
    disabledReason: row.disabled_reason,
    previousSecretExpiresAt:
      row.previous_secret_expires_at && row.previous_secret_expires_at > new Date()
        ? row.previous_secret_expires_at.toISOString()
        : null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
}

/** The `data` of a `webhook.*` event (src/events/contracts.ts): the view's facts, never a secret. */
function webhookEvent(type: string, row: repo.SubscriptionRow) {
  return outboxEvent(
    type,
    { type: 'webhook', id: row.id },
    {
      id: row.id,
      ownerId: row.owner_id,
      url: row.url,
      eventTypes: row.event_types,
      walletId: row.wallet_id,
      userId: row.user_id,
      description: row.description,
      status: row.status,
      consecutiveFailures: row.consecutive_failures,
      disabledReason: row.disabled_reason,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    },
  )
}

function deliveryView(row: repo.DeliveryRow): DeliveryView {
  return {
    id: row.id,
    eventId: row.event_id,
    eventType: row.event_type,
    status: row.status,
    attempts: row.attempts,
    lastStatusCode: row.last_status_code,
    lastLatencyMs: row.last_latency_ms,
    lastError: row.last_error,
    lastAttemptAt: iso(row.last_attempt_at),
    nextAttemptAt: row.status === 'pending' ? row.next_attempt_at.toISOString() : null,
    createdAt: row.created_at.toISOString(),
    completedAt: iso(row.completed_at),
  }
}

function encodeSeqCursor(seq: bigint): string {
  return Buffer.from(`d:${seq}`).toString('base64url')
}

function decodeSeqCursor(cursor: string): bigint {
  const match = /^d:(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString())
  if (!match) throw new InvalidCursor()
  return BigInt(match[1]!)
}

function encodeIdCursor(id: string): string {
  return Buffer.from(`w:${id}`).toString('base64url')
}

function decodeIdCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString()
  const id = text.slice(2)
  if (!text.startsWith('w:') || !UUID.test(id)) throw new InvalidCursor()
  return id
}

/** Each entry an event type or a topic pattern that matches at least one type; duplicates dropped. */
export function checkedEventTypes(eventTypes: readonly string[] | undefined): string[] {
  const wanted = [...new Set(eventTypes ?? [])]
  for (const pattern of wanted) {
    if (!EVENT_TYPES.some((type) => topicMatches(pattern, type)))
      throw new UnknownEventType({ eventType: pattern })
  }
  return wanted
}

/**
 * Webhook subscriptions (admin, or a service for its own), their delivery log and replays. The
 * deliveries themselves are made by the worker: the fan-out (fan-out.ts) and the dispatcher
 * (dispatcher.ts); every change here reaches them through the database and a `webhook.*` event.
 */
export class WebhooksService {
  private readonly workListeners = new Set<() => void>()
  private readonly replayLimit: number

  constructor(private readonly deps: WebhooksServiceDeps) {
    this.replayLimit = deps.replayLimit ?? WEBHOOK_LIMITS.replayEvents
  }

  /** A dispatcher in this process listens, so a replay or a re-enable goes out before its poll. */
  onNewWork(listener: () => void): () => void {
    this.workListeners.add(listener)
    return () => this.workListeners.delete(listener)
  }

  private newWork(): void {
    for (const listener of this.workListeners) listener()
  }

  async create(principal: Principal, input: CreateWebhookInput): Promise<CreatedWebhookView> {
    const url = this.checkedUrl(input.url)
    const eventTypes = checkedEventTypes(input.eventTypes)
    await this.checkFilters({ walletId: input.walletId ?? null, userId: input.userId ?? null })
    const secret = this.deps.newSecret()
    const row = await this.deps.db.transaction().execute(async (trx) => {
      const inserted = await repo.insertSubscription(trx, {
        id: uuidv7(),
        ownerKind: principal.kind,
        ownerId: principal.id,
        ownerIsAdmin: hasRole(principal, 'admin'),
        url,
        eventTypes,
        walletId: input.walletId ?? null,
        userId: input.userId ?? null,
        description: input.description ?? null,
        secret,
      })
      await repo.insertOutboxEvents(trx, [webhookEvent('webhook.created', inserted)])
      return inserted
    })
    this.deps.logger.info({ webhookId: row.id, ownerId: row.owner_id }, 'webhook subscription created')
    return { ...webhookView(row), secret }
  }

  async list(
    principal: Principal,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<{ items: WebhookView[]; nextCursor: string | null }> {
    const before = page.cursor ? decodeIdCursor(page.cursor) : undefined
    const rows = await repo.listSubscriptions(this.deps.db, {
      ownerId: hasRole(principal, 'admin') ? null : principal.id,
      limit: page.limit + 1,
      before,
    })
    const items = rows.slice(0, page.limit).map(webhookView)
    const last = items.at(-1)
    return { items, nextCursor: rows.length > page.limit && last ? encodeIdCursor(last.id) : null }
  }

  async get(principal: Principal, id: string): Promise<WebhookView> {
    return webhookView(await this.visible(this.deps.db, principal, id))
  }

  async update(principal: Principal, id: string, input: UpdateWebhookInput): Promise<WebhookView> {
    const changes: repo.SubscriptionChanges = {}
    if (input.url !== undefined) changes.url = this.checkedUrl(input.url)
    if (input.eventTypes !== undefined) changes.event_types = checkedEventTypes(input.eventTypes)
    if (input.walletId !== undefined) changes.wallet_id = input.walletId
    if (input.userId !== undefined) changes.user_id = input.userId
    if (input.description !== undefined) changes.description = input.description
    await this.checkFilters({ walletId: input.walletId ?? null, userId: input.userId ?? null })
    let resumed = false
    const row = await this.deps.db.transaction().execute(async (trx) => {
      const current = await this.visible(trx, principal, id, { forUpdate: true })
      if (input.enabled === true && current.status === 'disabled') {
        Object.assign(changes, { status: 'enabled', disabled_reason: null, consecutive_failures: 0 })
        await repo.duePendingNow(trx, id)
        resumed = true
      } else if (input.enabled === false && current.status === 'enabled') {
        Object.assign(changes, { status: 'disabled', disabled_reason: 'disabled through the API' })
      }
      const updated = await repo.updateSubscription(trx, id, changes)
      await repo.insertOutboxEvents(trx, [webhookEvent('webhook.updated', updated)])
      return updated
    })
    if (resumed) this.newWork()
    return webhookView(row)
  }

  async delete(principal: Principal, id: string): Promise<void> {
    await this.deps.db.transaction().execute(async (trx) => {
      await this.visible(trx, principal, id, { forUpdate: true })
      const deleted = await repo.updateSubscription(trx, id, { deleted_at: new Date() })
      await repo.cancelPendingDeliveries(trx, id)
      await repo.insertOutboxEvents(trx, [webhookEvent('webhook.deleted', deleted)])
    })
    this.deps.logger.info({ webhookId: id }, 'webhook subscription deleted')
  }

  async rotateSecret(
    principal: Principal,
    id: string,
    graceSeconds: number | undefined,
  ): Promise<{ secret: string; previousSecretExpiresAt: string }> {
    const secret = this.deps.newSecret()
    const graceMs = (graceSeconds ?? this.deps.secretGraceHours * 3600) * 1000
    const expiresAt = new Date(Date.now() + graceMs)
    await this.deps.db.transaction().execute(async (trx) => {
      const current = await this.visible(trx, principal, id, { forUpdate: true })
      const updated = await repo.updateSubscription(trx, id, {
        secret,
        previous_secret: current.secret,
        previous_secret_expires_at: expiresAt,
      })
      await repo.insertOutboxEvents(trx, [webhookEvent('webhook.updated', updated)])
    })
    this.deps.logger.info({ webhookId: id, graceMs }, 'webhook secret rotated')
    return { secret, previousSecretExpiresAt: expiresAt.toISOString() }
  }

  async listDeliveries(
    principal: Principal,
    id: string,
    query: { status?: DeliveryStatus | undefined; limit: number; cursor?: string | undefined },
  ): Promise<{ items: DeliveryView[]; nextCursor: string | null }> {
    await this.visible(this.deps.db, principal, id)
    const beforeSeq = query.cursor ? decodeSeqCursor(query.cursor) : undefined
    const rows = await repo.listDeliveries(this.deps.db, {
      subscriptionId: id,
      status: query.status,
      limit: query.limit + 1,
      beforeSeq,
    })
    const page = rows.slice(0, query.limit)
    const last = page.at(-1)
    return {
      items: page.map(deliveryView),
      nextCursor: rows.length > query.limit && last ? encodeSeqCursor(last.seq) : null,
    }
  }

  async getDelivery(principal: Principal, id: string, deliveryId: string): Promise<DeliveryDetailView> {
    await this.visible(this.deps.db, principal, id)
    const row = await repo.findDelivery(this.deps.db, id, deliveryId)
    if (!row) throw new WebhookDeliveryNotFound({ deliveryId })
    return { ...deliveryView(row), payload: row.payload, lastResponseBody: row.last_response_body }
  }

  async replayDelivery(principal: Principal, id: string, deliveryId: string): Promise<void> {
    await this.visible(this.deps.db, principal, id)
    if (!(await repo.replayDelivery(this.deps.db, id, deliveryId))) {
      throw new WebhookDeliveryNotFound({ deliveryId })
    }
    this.newWork()
  }

  /**
   * Every outbox event in [from, to) that the subscription wants gets a delivery again: created
   * when it has none (it was disabled, or filtered differently, then), else back to pending.
   */
  async replayRange(principal: Principal, id: string, range: { from: string; to: string }): Promise<number> {
    const from = new Date(range.from)
    const to = new Date(range.to)
    if (!(from < to)) throw new InvalidReplayRange({ detail: 'from must be before to' })
    const subscription = await this.visible(this.deps.db, principal, id)
    const events = await repo.countOutboxEvents(this.deps.db, { from, to })
    if (events > this.replayLimit) throw new ReplayRangeTooLarge({ events, limit: this.replayLimit })
    const rows = await repo.outboxEventsBetween(this.deps.db, { from, to })
    const candidates = [matchableOf(subscription)]
    const deliveries: repo.NewDelivery[] = []
    for (const row of rows) {
      deliveries.push(...(await deliveriesFor(toEnvelope(row), candidates, this.deps.parties)))
    }
    let replayed = 0
    for (let start = 0; start < deliveries.length; start += REPLAY_CHUNK) {
      replayed += await repo.upsertReplayedDeliveries(
        this.deps.db,
        deliveries.slice(start, start + REPLAY_CHUNK),
      )
    }
    this.deps.logger.info({ webhookId: id, from, to, replayed }, 'webhook deliveries replayed')
    if (replayed > 0) this.newWork()
    return replayed
  }

  /** The subscription if the principal may see it: an admin every one, a service its own. */
  private async visible(
    db: Db | Trx,
    principal: Principal,
    id: string,
    options: { forUpdate?: boolean } = {},
  ): Promise<repo.SubscriptionRow> {
    const row = await repo.findSubscription(db, id, options)
    if (!row || (!hasRole(principal, 'admin') && row.owner_id !== principal.id)) {
      throw new WebhookNotFound({ webhookId: id })
    }
    return row
  }

  private checkedUrl(url: string): string {
    const checked = this.deps.checkUrl(url)
    if (!checked.ok) throw new WebhookUrlRefused({ url, reason: checked.reason })
    return url
  }

  private async checkFilters(filters: { walletId: string | null; userId: string | null }): Promise<void> {
    const { db } = this.deps
    if (filters.walletId && !(await repo.walletOwner(db, filters.walletId))) {
      throw new WebhookFilterNotFound({ field: 'walletId', id: filters.walletId })
    }
    if (filters.userId && !(await repo.userKnown(db, filters.userId))) {
      throw new WebhookFilterNotFound({ field: 'userId', id: filters.userId })
    }
  }
}

/** A delivery that ended, in the order the attempts finished, for the subscription's failure count. */
export type DeliveryOutcome = 'succeeded' | 'failed'

/**
 * Counts ended deliveries into the subscription's consecutive failures (a success resets it)
 * and disables it at `disableAfter`, writing `webhook.disabled` in the same transaction.
 */
export async function settleOutcomes(
  trx: Trx,
  subscriptionId: string,
  outcomes: readonly DeliveryOutcome[],
  disableAfter: number,
): Promise<{ disabled: boolean }> {
  const current = await repo.findSubscription(trx, subscriptionId, { forUpdate: true })
  if (!current || outcomes.length === 0) return { disabled: false }
  let failures = current.consecutive_failures
  let disableAt: number | null = null
  for (const outcome of outcomes) {
    failures = outcome === 'succeeded' ? 0 : failures + 1
    if (failures >= disableAfter && disableAt === null && current.status === 'enabled') disableAt = failures
  }
  if (disableAt === null) {
    if (failures !== current.consecutive_failures) {
      await repo.updateSubscription(trx, subscriptionId, { consecutive_failures: failures })
    }
    return { disabled: false }
  }
  const disabled = await repo.updateSubscription(trx, subscriptionId, {
    consecutive_failures: failures,
    status: 'disabled',
    disabled_reason: `${disableAt} deliveries in a row failed after all their retries`,
  })
  await repo.insertOutboxEvents(trx, [webhookEvent('webhook.disabled', disabled)])
  return { disabled: true }
}
