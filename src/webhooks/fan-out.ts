import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { uuidv7 } from 'uuidv7'
import type { Db } from '../db/database.js'
import { isDatabaseUnavailable } from '../db/unavailable.js'
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
const CREDENTIAL_EVENTS: ReadonlySet<string> = new Set([
  'api_key.revoked',
  'session.revoked',
  'access_token.revoked',
])

export async function deliveriesFor(
  event: EventEnvelope,
  candidates: readonly MatchableSubscription[],
  parties: EventPartiesResolver,
): Promise<repo.NewDelivery[]> {
  const isWebhookEvent = event.type.startsWith('webhook.')
  // A subscription's own changes are its owner's business (and an admin's), not other services'.
  const eventOwner = isWebhookEvent ? (event.data as { ownerId?: unknown }).ownerId : undefined
  // Revocations of credentials (api_key.revoked, session.revoked, access_token.revoked) name
  // keys, sessions and users: an admin's to watch, not any service's.
  const isCredentialEvent = CREDENTIAL_EVENTS.has(event.type)
  const byType = candidates.filter(
    (s) =>
      typeWanted(s, event.type) &&
      (!isCredentialEvent || s.ownerIsAdmin) &&
      (!isWebhookEvent || s.ownerIsAdmin || s.ownerId === eventOwner),
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
/** Events the bus hands the fan-out at once (the RabbitMQ consumer's concurrency). */
export const FAN_OUT_CONCURRENCY = 256
/** Deliveries per insert statement. */
const MAX_ROWS_PER_INSERT = 1000
const RETRY_INITIAL_MS = 100
const RETRY_MAX_MS = 5000

export interface FanOutOptions {
  db: Db
  parties: EventPartiesResolver
  logger: Logger
  /** Called after deliveries were stored, so the dispatcher sends them without waiting for its poll. */
  onDeliveries: () => void
  reloadIntervalMs?: number
}

interface Waiting {
  deliveries: repo.NewDelivery[]
  resolve: () => void
  reject: (error: unknown) => void
}

/** The fan-out was closed while an event still waited for the database. */
class FanOutClosed extends Error {}

/**
 * The bus subscriber: turns each event into deliveries for the subscriptions that want it.
 *
 * - The subscriptions are kept in memory; a `webhook.*` event (a subscription created, changed,
 *   deleted, disabled) reloads them before it is matched, and since the bus delivers in publish
 *   order, every event committed after a subscription's creation finds it.
 * - The bus hands over up to FAN_OUT_CONCURRENCY events at once, started in publish order. They
 *   are matched one after the other in that order, and their deliveries are inserted in batches,
 *   one statement at a time, in the same order: the deliveries' `seq` (which the dispatcher sends
 *   by) follows publish order, as with one event at a time, at one round trip per batch instead
 *   of one per event. Each event is acknowledged when the batch holding its deliveries is stored.
 * - The database unavailable: the batch is retried in place (with backoff) rather than given back
 *   to the bus, so a later event can never be stored before an earlier one; the events stay
 *   unacknowledged meanwhile, and a worker that dies leaves them to the next consumer.
 * - Redelivered events insert nothing twice (unique per subscription and event).
 */
export class WebhookFanOut {
  private subscriptions: MatchableSubscription[] = []
  private loadedAt = 0
  private readonly reloadIntervalMs: number
  /** Matching, one event after the other in arrival order. */
  private matching: Promise<unknown> = Promise.resolve()
  private readonly waiting: Waiting[] = []
  private flushing: Promise<void> | null = null
  private closed = false
  private outage = false

  constructor(private readonly options: FanOutOptions) {
    this.reloadIntervalMs = options.reloadIntervalMs ?? SUBSCRIPTION_RELOAD_MS
  }

  async reload(): Promise<void> {
    const rows = await repo.listDeliverableSubscriptions(this.options.db)
    this.subscriptions = rows.map(matchableOf)
    this.loadedAt = Date.now()
  }

  /** The bus handler; resolves once the event's deliveries are stored (at once when it has none). */
  readonly handle = (event: EventEnvelope): Promise<void> => {
    const matched = this.matching.then(() => this.match(event))
    this.matching = matched.catch(() => undefined)
    return matched.then((deliveries) => (deliveries.length === 0 ? undefined : this.store(deliveries)))
  }

  /** Stops retrying: events still waiting for the database are given back to the bus. */
  close(): void {
    this.closed = true
  }

  private async match(event: EventEnvelope): Promise<repo.NewDelivery[]> {
    if (event.type.startsWith('webhook.') || Date.now() - this.loadedAt >= this.reloadIntervalMs) {
      await this.untilStored(() => this.reload())
    }
    if (this.subscriptions.length === 0) return []
    return this.untilStored(() => deliveriesFor(event, this.subscriptions, this.options.parties))
  }

  private store(deliveries: repo.NewDelivery[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ deliveries, resolve, reject })
      this.flushing ??= this.flush().finally(() => {
        this.flushing = null
      })
    })
  }

  /** Inserts what waits, batch after batch, until nothing does. */
  private async flush(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch: Waiting[] = []
      let rows = 0
      while (
        this.waiting.length > 0 &&
        (rows === 0 || rows + this.waiting[0]!.deliveries.length <= MAX_ROWS_PER_INSERT)
      ) {
        const next = this.waiting.shift()!
        batch.push(next)
        rows += next.deliveries.length
      }
      try {
        const inserted = await this.untilStored(() =>
          repo.insertDeliveries(
            this.options.db,
            batch.flatMap((waiting) => waiting.deliveries),
          ),
        )
        if (inserted > 0) this.options.onDeliveries()
        for (const waiting of batch) waiting.resolve()
      } catch (error) {
        for (const waiting of batch) waiting.reject(error)
      }
    }
  }

  /**
   * Runs `work` until it succeeds while the database is unavailable (backoff, one warning per
   * outage); any other error, or the fan-out closing, is thrown (the bus then redelivers).
   */
  private async untilStored<T>(work: () => Promise<T>): Promise<T> {
    let delayMs = RETRY_INITIAL_MS
    for (;;) {
      if (this.closed) throw new FanOutClosed('webhook fan-out closed')
      try {
        const result = await work()
        if (this.outage) {
          this.outage = false
          this.options.logger.info('webhook fan-out: database available again')
        }
        return result
      } catch (error) {
        if (!isDatabaseUnavailable(error)) throw error
        if (!this.outage) {
          this.outage = true
          this.options.logger.warn(
            { err: error },
            'webhook fan-out: database unavailable; events wait, in order',
          )
        }
        await sleep(delayMs)
        delayMs = Math.min(RETRY_MAX_MS, delayMs * 2)
      }
    }
  }
}
