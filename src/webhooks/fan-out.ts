import type { Logger } from 'pino'
import { uuidv7 } from 'uuidv7'
import type { Db } from '../db/database.js'
import type { EventEnvelope } from '../events/bus.js'
import { topicMatches } from '../events/in-process-bus.js'
import { type EventPartiesResolver, orderKeysOf } from './event-parties.js'
import * as repo from './webhooks.repository.js'

/** What the matching needs of a subscription. */
export interface MatchableSubscription {
  id: string
  ownerId: string
  ownerIsAdmin: boolean
  eventTypes: string[]
  walletId: string | null
  userId: string | null
}

export function matchableOf(row: repo.SubscriptionRow): MatchableSubscription {
  return {
    id: row.id,
    ownerId: row.owner_id,
    ownerIsAdmin: row.owner_is_admin,
    eventTypes: row.event_types,
    walletId: row.wallet_id,
    userId: row.user_id,
  }
}

/** The body sent for an event: the same for every subscription, every attempt and every replay. */
export function webhookBody(event: EventEnvelope): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: event.occurredAt,
    version: event.version,
    aggregate: event.aggregate,
    data: event.data,
  })
}

export function typeWanted(subscription: MatchableSubscription, type: string): boolean {
  return subscription.eventTypes.length === 0 || subscription.eventTypes.some((p) => topicMatches(p, type))
}

/**
 * The subscriptions among `candidates` that get `event`, and its deliveries to them (not yet
 * stored). Owners of wallets are looked up only when a candidate filters by user.
 */
export async function deliveriesFor(
  event: EventEnvelope,
  candidates: readonly MatchableSubscription[],
  parties: EventPartiesResolver,
): Promise<repo.NewDelivery[]> {
  const isWebhookEvent = event.type.startsWith('webhook.')
  // A subscription's own changes are its owner's business (and an admin's), not other services'.
  const eventOwner = isWebhookEvent ? (event.data as { ownerId?: unknown }).ownerId : undefined
  const byType = candidates.filter(
    (s) => typeWanted(s, event.type) && (!isWebhookEvent || s.ownerIsAdmin || s.ownerId === eventOwner),
  )
  if (byType.length === 0) return []
  const eventParties = parties.partiesOf(event)
  let owners: Set<string> | null = null
  const matched: MatchableSubscription[] = []
  for (const subscription of byType) {
    if (subscription.walletId && !eventParties.walletIds.includes(subscription.walletId)) continue
    if (subscription.userId) {
      owners ??= new Set([...eventParties.userIds, ...(await parties.ownersOf(eventParties.walletIds))])
      if (!owners.has(subscription.userId)) continue
    }
    matched.push(subscription)
  }
  if (matched.length === 0) return []
  const payload = webhookBody(event)
  const orderKeys = orderKeysOf(event, eventParties)
  return matched.map((subscription) => ({
    id: uuidv7(),
    subscriptionId: subscription.id,
    eventId: event.id,
    eventType: event.type,
    orderKeys,
    payload,
    occurredAt: event.occurredAt,
  }))
}

/** The subscriptions are reloaded at least this often, besides on every `webhook.*` event. */
export const SUBSCRIPTION_RELOAD_MS = 10_000

export interface FanOutOptions {
  db: Db
  parties: EventPartiesResolver
  logger: Logger
  /** Called after deliveries were stored, so the dispatcher sends them without waiting for its poll. */
  onDeliveries: () => void
  reloadIntervalMs?: number
}

/**
 * The bus subscriber: turns each event into deliveries for the subscriptions that want it. The
 * subscriptions are kept in memory; a `webhook.*` event (a subscription created, changed,
 * deleted, disabled) reloads them before it is matched, and since the bus delivers in publish
 * order, every event committed after a subscription's creation finds it. Redelivered events
 * insert nothing twice (unique per subscription and event).
 */
export class WebhookFanOut {
  private subscriptions: MatchableSubscription[] = []
  private loadedAt = 0
  private readonly reloadIntervalMs: number

  constructor(private readonly options: FanOutOptions) {
    this.reloadIntervalMs = options.reloadIntervalMs ?? SUBSCRIPTION_RELOAD_MS
  }

  async reload(): Promise<void> {
    const rows = await repo.listDeliverableSubscriptions(this.options.db)
    this.subscriptions = rows.map(matchableOf)
    this.loadedAt = Date.now()
  }

  /** The bus handler; a throw makes the bus deliver the event again. */
  readonly handle = async (event: EventEnvelope): Promise<void> => {
    if (event.type.startsWith('webhook.') || Date.now() - this.loadedAt >= this.reloadIntervalMs) {
      await this.reload()
    }
    if (this.subscriptions.length === 0) return
    const deliveries = await deliveriesFor(event, this.subscriptions, this.options.parties)
    if (deliveries.length === 0) return
    const inserted = await repo.insertDeliveries(this.options.db, deliveries)
    if (inserted > 0) this.options.onDeliveries()
  }
}
