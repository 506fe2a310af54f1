import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Db } from '../db/database.js'
import type { WebhookAttemptResult, WebhookSender } from './sender-types.js'
import * as repo from './webhooks.repository.js'
import { type DeliveryOutcome, settleOutcomes } from './webhooks.service.js'

export interface DispatcherOptions {
  db: Db
  sender: WebhookSender
  logger: Logger
  /** WEBHOOK_RETRY_DELAYS_MS: the delay before each retry; after the last, the delivery failed. */
  retryDelaysMs: readonly number[]
  /** WEBHOOK_DISABLE_AFTER_FAILURES. */
  disableAfterFailures: number
  /** WEBHOOK_CONCURRENCY: requests in flight at once in this process, across subscriptions. */
  concurrency: number
  /** Names this process in leases; random by default. */
  workerId?: string
  /** How long a lease lasts unless renewed; another process takes the subscription after it. */
  leaseMs?: number
  /** Poll for due retries and other processes' work. */
  pollIntervalMs?: number
  /** Pending deliveries of one subscription looked at per pass. */
  windowSize?: number
  /** Up to ± this share of each retry delay is random, so retries of many deliveries spread out. */
  jitter?: number
  random?: () => number
  /** How long stop() waits for requests in flight; default 2 s, well inside SHUTDOWN_TIMEOUT_MS. */
  stopGraceMs?: number
}

const DEFAULT_LEASE_MS = 60_000
const DEFAULT_POLL_MS = 250
const DEFAULT_WINDOW = 500
const SUBSCRIPTIONS_PER_SCAN = 100
/** Results are written at least this often while a pass still has requests in flight. */
const FLUSH_INTERVAL_MS = 100
const FLUSH_BATCH = 200
/** The database does not take NUL in text. */
const NUL = '\u0000'

/** A counting semaphore: at most `size` holders at once. */
class Slots {
  private free: number
  private readonly waiting: (() => void)[] = []
  constructor(size: number) {
    this.free = size
  }
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--
      return
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve))
  }
  give(): void {
    const next = this.waiting.shift()
    if (next) next()
    else this.free++
  }
}

/**
 * Groups deliveries (in delivery order) into lanes: deliveries that share an order key, directly
 * or through others, are one lane. Lanes have nothing in common and can be sent in parallel.
 */
export function lanesOf<T extends { order_keys: string[] }>(deliveries: readonly T[]): T[][] {
  const parent = new Map<string, string>()
  const find = (key: string): string => {
    let root = key
    while (parent.get(root) !== root) root = parent.get(root)!
    parent.set(key, root)
    return root
  }
  for (const delivery of deliveries) {
    for (const key of delivery.order_keys) if (!parent.has(key)) parent.set(key, key)
    const [first, ...rest] = delivery.order_keys.map(find)
    for (const other of rest) if (other !== first) parent.set(other, first!)
  }
  const lanes = new Map<string, T[]>()
  for (const delivery of deliveries) {
    const root = find(delivery.order_keys[0]!)
    const lane = lanes.get(root)
    if (lane) lane.push(delivery)
    else lanes.set(root, [delivery])
  }
  return [...lanes.values()]
}

/** The delay before retry `cycleAttempt` (1 = after the first failure), with jitter; null when none is left. */
export function retryDelayMs(
  delays: readonly number[],
  cycleAttempt: number,
  jitter: number,
  random: () => number,
): number | null {
  const base = delays[cycleAttempt - 1]
  if (base === undefined) return null
  return Math.max(0, Math.round(base * (1 + jitter * (2 * random() - 1))))
}

interface PendingRecord {
  record: repo.AttemptRecord
  outcome: DeliveryOutcome | null
}

/**
 * Sends pending deliveries, in order per wallet, with retries. All state is in the database
 * (webhook_deliveries), so another process, or this one after a restart, continues where it stopped.
 *
 * - One process works on a subscription at a time: it holds the subscription's lease, renewed on
 *   every pass; a process that dies loses it when it expires, and the requests it had in flight
 *   are sent again by the next holder (at least once; receivers de-duplicate by webhook-id).
 * - A pass takes the subscription's earliest pending deliveries, groups them into lanes of shared
 *   order keys (a wallet), and sends the lanes concurrently, each lane's deliveries one after the
 *   other. A delivery is sent only when no earlier delivery sharing one of its keys is still
 *   pending (waiting for its retry, or failed just now); the others of the lane go on.
 * - No database transaction is open during a request: results are written after, in batches.
 */
export class WebhookDispatcher {
  readonly workerId: string
  private readonly leaseMs: number
  private readonly pollIntervalMs: number
  private readonly windowSize: number
  private readonly jitter: number
  private readonly random: () => number
  private readonly stopGraceMs: number
  private readonly slots: Slots
  private readonly active = new Map<string, Promise<void>>()
  private timer: NodeJS.Timeout | null = null
  private scanning: Promise<void> | null = null
  private rescan = false
  private stopped = true
  private failuresInARow = 0

  constructor(private readonly options: DispatcherOptions) {
    this.workerId = options.workerId ?? `worker-${randomUUID()}`
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_MS
    this.windowSize = options.windowSize ?? DEFAULT_WINDOW
    this.jitter = options.jitter ?? 0.2
    this.random = options.random ?? Math.random
    this.stopGraceMs = options.stopGraceMs ?? 2000
    this.slots = new Slots(options.concurrency)
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.schedule(0)
  }

  /** Looks for work now (new deliveries were stored); coalesces with a scan under way. */
  wake(): void {
    if (this.stopped) return
    if (this.scanning) {
      this.rescan = true
      return
    }
    this.schedule(0)
  }

  /**
   * Stops taking work and waits up to `stopGraceMs` for the requests in flight. Past that their
   * results are not waited for (the deliveries stay pending and are sent again: at least once),
   * and the leases are released so that another worker need not wait for them to expire.
   */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.scanning
    let timer: NodeJS.Timeout | undefined
    const grace = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), this.stopGraceMs)
    })
    const finished = await Promise.race([Promise.allSettled([...this.active.values()]), grace])
    clearTimeout(timer)
    if (finished !== 'late') return
    await Promise.allSettled(
      [...this.active.keys()].map((id) => repo.releaseLease(this.options.db, id, this.workerId)),
    )
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = null
      this.scanning = this.scan().finally(() => {
        this.scanning = null
        if (this.rescan) {
          this.rescan = false
          this.schedule(0)
        } else {
          this.schedule(this.backoffMs())
        }
      })
    }, delayMs)
  }

  private backoffMs(): number {
    if (this.failuresInARow === 0) return this.pollIntervalMs
    return Math.min(30_000, this.pollIntervalMs * 2 ** Math.min(this.failuresInARow, 8))
  }

  private async scan(): Promise<void> {
    try {
      const ids = await repo.subscriptionsWithDueWork(this.options.db, this.workerId, SUBSCRIPTIONS_PER_SCAN)
      for (const id of ids) {
        if (this.stopped || this.active.has(id)) continue
        const work = this.work(id).finally(() => this.active.delete(id))
        this.active.set(id, work)
      }
      this.failuresInARow = 0
    } catch (error) {
      if (this.failuresInARow++ === 0) {
        this.options.logger.warn({ err: error }, 'webhook dispatcher cannot read its work; retrying')
      }
    }
  }

  /** Passes over one subscription while it has work it can send and this process holds its lease. */
  private async work(subscriptionId: string): Promise<void> {
    const { db, logger } = this.options
    try {
      for (;;) {
        if (this.stopped) break
        const lease = await repo.takeLease(db, subscriptionId, this.workerId, this.leaseMs)
        if (!lease) break
        const sent = await this.pass(lease)
        if (sent === 0) break
      }
      // Also when it was disabled meanwhile, so that, enabled again, any process may take it at once.
      await repo.releaseLease(db, subscriptionId, this.workerId)
    } catch (error) {
      // The lease runs out on its own; the next scan (here or elsewhere) picks the work up again.
      logger.warn({ err: error, webhookId: subscriptionId }, 'webhook dispatch pass failed')
    }
  }

  /** One pass; returns how many requests it made. */
  private async pass(lease: repo.LeasedSubscription): Promise<number> {
    const window = await repo.pendingWindow(this.options.db, lease.id, this.windowSize)
    if (!window.some((delivery) => delivery.due)) return 0
    const results: PendingRecord[] = []
    let flushing: Promise<void> = Promise.resolve()
    let lastFlush = Date.now()
    const flush = () => {
      const batch = results.splice(0)
      lastFlush = Date.now()
      if (batch.length > 0) flushing = flushing.then(() => this.write(lease.id, batch))
      return flushing
    }
    let sent = 0
    const leaseLost = { value: false }
    const renew = setInterval(() => {
      repo
        .takeLease(this.options.db, lease.id, this.workerId, this.leaseMs)
        .then((renewed) => {
          if (!renewed) leaseLost.value = true
        })
        .catch(() => undefined)
    }, this.leaseMs / 3)
    try {
      await Promise.all(
        lanesOf(window).map(async (lane) => {
          // Keys of deliveries still pending earlier in this lane: a later one sharing any waits.
          const blocked = new Set<string>()
          for (const delivery of lane) {
            const waits = !delivery.due || delivery.order_keys.some((key) => blocked.has(key))
            if (waits || this.stopped || leaseLost.value) {
              for (const key of delivery.order_keys) blocked.add(key)
              continue
            }
            const result = await this.attempt(lease, delivery)
            sent++
            const pending = this.recordOf(delivery, result)
            results.push(pending)
            if (pending.record.status !== 'succeeded') {
              for (const key of delivery.order_keys) blocked.add(key)
            }
            if (results.length >= FLUSH_BATCH || Date.now() - lastFlush >= FLUSH_INTERVAL_MS) void flush()
          }
        }),
      )
    } finally {
      clearInterval(renew)
      await flush()
    }
    return sent
  }

  private async attempt(
    lease: repo.LeasedSubscription,
    delivery: repo.PendingDelivery,
  ): Promise<WebhookAttemptResult & { attemptedAt: Date }> {
    await this.slots.take()
    const attemptedAt = new Date()
    try {
      const result = await this.options.sender.send({
        url: lease.url,
        messageId: delivery.id,
        timestamp: attemptedAt,
        body: delivery.payload,
        secrets: lease.secrets,
      })
      return { ...result, attemptedAt }
    } catch (error) {
      // The sender promises not to throw; if it does, it counts as a failed attempt.
      return {
        ok: false,
        statusCode: null,
        latencyMs: Date.now() - attemptedAt.getTime(),
        error: error instanceof Error ? error.message : String(error),
        responseBody: '',
        attemptedAt,
      }
    } finally {
      this.slots.give()
    }
  }

  private recordOf(
    delivery: repo.PendingDelivery,
    result: WebhookAttemptResult & { attemptedAt: Date },
  ): PendingRecord {
    const base = {
      id: delivery.id,
      attemptedAt: result.attemptedAt.toISOString(),
      statusCode: result.statusCode,
      latencyMs: result.latencyMs,
      error: result.error?.replaceAll(NUL, '') ?? null,
      responseBody: result.responseBody.replaceAll(NUL, ''),
    }
    if (result.ok) {
      return { record: { ...base, status: 'succeeded', nextAttemptAt: null }, outcome: 'succeeded' }
    }
    const delay = retryDelayMs(
      this.options.retryDelaysMs,
      delivery.cycle_attempts + 1,
      this.jitter,
      this.random,
    )
    if (delay === null)
      return { record: { ...base, status: 'failed', nextAttemptAt: null }, outcome: 'failed' }
    return {
      record: { ...base, status: 'pending', nextAttemptAt: new Date(Date.now() + delay).toISOString() },
      outcome: null,
    }
  }

  /** Writes attempts; ended deliveries also move the subscription's failure count, in one transaction. */
  private async write(subscriptionId: string, batch: PendingRecord[]): Promise<void> {
    const { db, logger, disableAfterFailures } = this.options
    const outcomes = batch.flatMap((r) => (r.outcome ? [r.outcome] : []))
    const records = batch.map((r) => r.record)
    try {
      if (outcomes.length === 0) {
        await repo.recordAttempts(db, records)
        return
      }
      const { disabled } = await db.transaction().execute(async (trx) => {
        await repo.recordAttempts(trx, records)
        return settleOutcomes(trx, subscriptionId, outcomes, disableAfterFailures)
      })
      if (disabled)
        logger.warn({ webhookId: subscriptionId }, 'webhook subscription disabled after repeated failures')
    } catch (error) {
      // Not written: the deliveries stay pending and are sent again (at least once).
      logger.warn({ err: error, webhookId: subscriptionId }, 'webhook delivery results not recorded')
    }
  }
}
