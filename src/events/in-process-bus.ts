import type { Logger } from 'pino'
import type {
  CommandEnvelope,
  CommandHandler,
  CommandOutcome,
  EventBus,
  EventEnvelope,
  EventHandler,
  Subscription,
} from './bus.js'

/** A command that will not be delivered again, with why. */
export interface DeadLetter {
  command: CommandEnvelope
  reason: string
  /** Deliveries it had, the last one included. */
  attempts: number
}

export interface InProcessBusOptions {
  logger?: Logger
  /** Deliveries of a command before a `retry` outcome sends it to the dead letters instead. */
  maxAttempts?: number
  /** Delay before the n-th redelivery (the last one repeats), in milliseconds. */
  retryDelaysMs?: number[]
}

const DEFAULT_MAX_ATTEMPTS = 5
/** The same steps as the broker's delay queues. */
const DEFAULT_RETRY_DELAYS_MS = [1000, 5000, 30_000, 120_000]

/**
 * Does `routingKey` match an AMQP topic pattern? Words are separated by dots; `*` is exactly
 * one word, `#` zero or more.
 */
export function topicMatches(pattern: string, routingKey: string): boolean {
  const want = pattern.split('.')
  const have = routingKey.split('.')
  const match = (p: number, k: number): boolean => {
    if (p === want.length) return k === have.length
    if (want[p] === '#') return match(p + 1, k) || (k < have.length && match(p, k + 1))
    if (k === have.length) return false
    return (want[p] === '*' || want[p] === have[k]) && match(p + 1, k + 1)
  }
  return match(0, 0)
}

interface Subscriber {
  name: string
  patterns: string[]
  handler: EventHandler
}

interface CommandConsumer {
  handler: CommandHandler
  prefetch: number
  inFlight: number
}

/**
 * The event bus of the embedded shape: the same interface as RabbitMQ, in memory.
 *
 * Events: `publish` hands each event, in order, to every subscriber whose patterns match its
 * type, one event at a time per subscriber, and resolves once all have handled them. A handler
 * that throws makes `publish` reject (that subscriber gets no later event of the call), so the
 * relay keeps the rows unpublished and publishes them again: every subscriber, not only the one
 * that failed, may then see an event twice, exactly as with the broker, and de-duplicates by id.
 * Nothing is kept across a restart: the outbox is the durable copy, and a subscriber misses
 * only events published while it was not subscribed.
 *
 * Commands: `sendCommand` queues; consumers get at most `prefetch` at a time; the outcome
 * `retry` (or a handler that throws) redelivers after a backoff with `attempt + 1`, up to
 * `maxAttempts` deliveries; `dead` and the attempts past the bound land in `deadLetters()`.
 */
export class InProcessBus implements EventBus {
  private readonly subscribers = new Map<string, Subscriber>()
  private readonly consumers: CommandConsumer[] = []
  private readonly commandQueue: CommandEnvelope[] = []
  private readonly deadLetterList: DeadLetter[] = []
  private readonly retryTimers = new Set<NodeJS.Timeout>()
  private readonly handling = new Set<Promise<void>>()
  private publishing: Promise<void> = Promise.resolve()
  private nextConsumer = 0
  private closed = false
  private readonly maxAttempts: number
  private readonly retryDelaysMs: number[]

  constructor(private readonly options: InProcessBusOptions = {}) {
    this.maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS
    this.retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new Error(`maxAttempts must be a positive integer, not ${this.maxAttempts}`)
    }
    if (this.retryDelaysMs.length === 0 || this.retryDelaysMs.some((ms) => !(ms >= 0))) {
      throw new Error('retryDelaysMs must list at least one delay, none negative')
    }
  }

  publish(events: EventEnvelope[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('event bus closed'))
    // Calls are delivered one after the other, so a later call never overtakes an earlier one.
    const delivery = this.publishing.then(() => this.deliver(events))
    this.publishing = delivery.catch(() => undefined)
    return delivery
  }

  private async deliver(events: EventEnvelope[]): Promise<void> {
    const results = await Promise.allSettled(
      [...this.subscribers.values()].map(async (subscriber) => {
        for (const event of events) {
          if (!subscriber.patterns.some((pattern) => topicMatches(pattern, event.type))) continue
          await subscriber.handler(event)
        }
      }),
    )
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []))
    if (failures.length === 1) throw failures[0]
    if (failures.length > 1) throw new AggregateError(failures, `${failures.length} subscribers failed`)
  }

  /** `broadcast` changes nothing here: every subscriber of the process gets every matching event. */
  async subscribe(name: string, patterns: string[], handler: EventHandler): Promise<Subscription> {
    if (this.closed) throw new Error('event bus closed')
    if (patterns.length === 0) throw new Error(`subscription ${name}: give at least one pattern`)
    if (this.subscribers.has(name)) throw new Error(`subscription ${name} already exists in this process`)
    const subscriber = { name, patterns: [...patterns], handler }
    this.subscribers.set(name, subscriber)
    return {
      close: async () => {
        if (this.subscribers.get(name) === subscriber) this.subscribers.delete(name)
      },
    }
  }

  async sendCommand(
    type: string,
    body: unknown,
    options: { replyTo?: string; correlationId?: string; sender?: string } = {},
  ): Promise<void> {
    if (this.closed) throw new Error('event bus closed')
    // A Buffer goes as it is (a test can send what is not JSON); anything else as JSON.
    const raw = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body) ?? 'null')
    this.commandQueue.push({
      type,
      body: raw,
      sender: options.sender ?? null,
      replyTo: options.replyTo ?? null,
      correlationId: options.correlationId ?? null,
      attempt: 0,
      headers: {},
    })
    this.dispatch()
  }

  async consumeCommands(handler: CommandHandler, options: { prefetch: number }): Promise<Subscription> {
    if (this.closed) throw new Error('event bus closed')
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1) {
      throw new Error(`prefetch must be a positive integer, not ${options.prefetch}`)
    }
    const consumer: CommandConsumer = { handler, prefetch: options.prefetch, inFlight: 0 }
    this.consumers.push(consumer)
    this.dispatch()
    return {
      close: async () => {
        const index = this.consumers.indexOf(consumer)
        if (index >= 0) this.consumers.splice(index, 1)
      },
    }
  }

  /** Commands that will not be delivered again, oldest first. */
  deadLetters(): readonly DeadLetter[] {
    return this.deadLetterList
  }

  /** Commands waiting for a consumer (not counting those waiting out a retry delay). */
  pendingCommands(): number {
    return this.commandQueue.length
  }

  async check(): Promise<void> {
    if (this.closed) throw new Error('event bus closed')
  }

  async close(): Promise<void> {
    this.closed = true
    for (const timer of this.retryTimers) clearTimeout(timer)
    this.retryTimers.clear()
    this.subscribers.clear()
    this.consumers.length = 0
    await Promise.allSettled([this.publishing, ...this.handling])
  }

  /** Hands queued commands to consumers with room, round robin. */
  private dispatch(): void {
    while (this.commandQueue.length > 0 && !this.closed) {
      const consumer = this.consumerWithRoom()
      if (!consumer) return
      const command = this.commandQueue.shift()!
      consumer.inFlight++
      const handled = this.handle(consumer, command).finally(() => {
        consumer.inFlight--
        this.handling.delete(handled)
        this.dispatch()
      })
      this.handling.add(handled)
    }
  }

  private consumerWithRoom(): CommandConsumer | undefined {
    for (let i = 0; i < this.consumers.length; i++) {
      const consumer = this.consumers[(this.nextConsumer + i) % this.consumers.length]!
      if (consumer.inFlight < consumer.prefetch) {
        this.nextConsumer = (this.nextConsumer + i + 1) % this.consumers.length
        return consumer
      }
    }
    return undefined
  }

  private async handle(consumer: CommandConsumer, command: CommandEnvelope): Promise<void> {
    let outcome: CommandOutcome
    try {
      outcome = await consumer.handler(command)
    } catch (error) {
      // As on the broker: a handler that throws did not commit, so the command is retried.
      const reason = error instanceof Error ? error.message : String(error)
      this.options.logger?.warn({ err: error, type: command.type }, 'command handler threw; retrying')
      outcome = { kind: 'retry', reason }
    }
    if (outcome.kind === 'done') return
    const attempts = command.attempt + 1
    if (outcome.kind === 'dead') {
      this.deadLetterList.push({ command, reason: outcome.reason, attempts })
      return
    }
    if (attempts >= this.maxAttempts) {
      this.deadLetterList.push({
        command,
        reason: `gave up after ${attempts} attempts: ${outcome.reason}`,
        attempts,
      })
      return
    }
    const delayMs = this.retryDelaysMs[Math.min(command.attempt, this.retryDelaysMs.length - 1)]!
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer)
      this.commandQueue.push({ ...command, attempt: attempts })
      this.dispatch()
    }, delayMs)
    this.retryTimers.add(timer)
  }
}
