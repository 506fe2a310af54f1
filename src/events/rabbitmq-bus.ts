import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import {
  type AsyncMessage,
  Connection,
  type Consumer,
  type ConsumerProps,
  ConsumerStatus,
  type Envelope,
  type Publisher,
} from 'rabbitmq-client'
import type { Config } from '../config.js'
import type {
  CommandEnvelope,
  CommandHandler,
  CommandOutcome,
  EventBus,
  EventEnvelope,
  EventHandler,
  Subscription,
} from './bus.js'

/**
 * The event bus on RabbitMQ, with `rabbitmq-client` rather than `amqplib`: its Connection
 * reconnects by itself with backoff, and its Publisher and Consumers re-declare their topology and
 * re-open their channels after every reconnection, which amqplib leaves to the caller.
 *
 * Topology (declared at connect and again after every reconnection, idempotently):
 * - `coffer.events`: durable topic exchange, routing key = event type; each subscriber a durable
 *   quorum queue `coffer.events.<name>`.
 * - `coffer.commands`: durable direct exchange bound by command type to the quorum queue
 *   `coffer.commands`.
 * - `coffer.commands.retry.<delay>`: one durable queue per backoff step, whose `x-message-ttl`
 *   dead-letters the message back to the queue `coffer.commands` (default exchange).
 * - `coffer.commands.dead`: durable quorum queue; reason and attempts in headers.
 */

export const EVENTS_EXCHANGE = 'coffer.events'
export const COMMANDS_EXCHANGE = 'coffer.commands'
export const COMMANDS_QUEUE = 'coffer.commands'
export const DEAD_LETTER_QUEUE = 'coffer.commands.dead'
export const DEFAULT_COMMAND_TYPES = [
  'deposit.requested',
  'withdrawal.requested',
  'transfer.requested',
  'points.earn.requested',
]
export const DEFAULT_RETRY_DELAYS_MS = [1000, 5000, 30_000, 120_000]

/** Header of a republished command: how many deliveries it had before this one. */
export const ATTEMPT_HEADER = 'x-coffer-attempt'
export const REASON_HEADER = 'x-coffer-reason'
export const ATTEMPTS_HEADER = 'x-coffer-attempts'

export interface RabbitMqBusOptions {
  url: string
  logger: Logger
  /** Routing keys bound to `coffer.commands`; `sendCommand` refuses any other. */
  commandTypes?: readonly string[]
  /** Deliveries of a command before a `retry` outcome sends it to the dead letters instead. */
  maxAttempts?: number
  /** Backoff of the n-th retry (the last one repeats); each is a queue of its own. */
  retryDelaysMs?: readonly number[]
  /** How long `createRabbitMqBus` waits for the first connection before going on without it. */
  connectTimeoutMs?: number
  /** Longest wait between two reconnection attempts. */
  reconnectMaxDelayMs?: number
  connectionName?: string
}

type QueueDeclaration = NonNullable<ConsumerProps['queueOptions']>

const QUORUM = { 'x-queue-type': 'quorum' } as const
const NAME = /^[A-Za-z0-9_.-]{1,200}$/
const PATTERN = /^(\*|#|[A-Za-z0-9_-]+)(\.(\*|#|[A-Za-z0-9_-]+))*$/

/** `coffer.commands.retry.5s`: the delay in the queue name, so changing the delays never clashes. */
export function retryQueueName(delayMs: number): string {
  if (delayMs % 60_000 === 0) return `${COMMANDS_QUEUE}.retry.${delayMs / 60_000}m`
  if (delayMs % 1000 === 0) return `${COMMANDS_QUEUE}.retry.${delayMs / 1000}s`
  return `${COMMANDS_QUEUE}.retry.${delayMs}ms`
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function integerHeader(headers: Record<string, unknown> | undefined, name: string): number {
  const value = headers?.[name]
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : 0
  return Number.isInteger(number) && number > 0 ? number : 0
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * The body as the sender wrote it, or why it cannot be read. rabbitmq-client parses
 * `application/json` bodies (leaving the Buffer when they do not parse) and decodes `text/plain`;
 * a parsed body is serialised again, which keeps its meaning (amounts are decimal strings).
 */
function readBody(
  message: AsyncMessage,
): { ok: true; body: Buffer } | { ok: false; reason: string; raw: Buffer } {
  const body: unknown = message.body
  if (message.contentEncoding) {
    const raw = Buffer.isBuffer(body) ? body : Buffer.from(String(body))
    return { ok: false, reason: `unreadable body: content encoding ${message.contentEncoding}`, raw }
  }
  if (!Buffer.isBuffer(body) && typeof body !== 'string')
    return { ok: true, body: Buffer.from(JSON.stringify(body)) }
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(body)
  try {
    JSON.parse(utf8.decode(raw))
    return { ok: true, body: raw }
  } catch (error) {
    return { ok: false, reason: `unreadable body: not JSON (${errorMessage(error)})`, raw }
  }
}

function eventOf(message: AsyncMessage): EventEnvelope | null {
  const body: unknown = message.body
  if (typeof body !== 'object' || body === null || Buffer.isBuffer(body)) return null
  const event = body as Partial<EventEnvelope>
  return typeof event.id === 'string' && typeof event.type === 'string' ? (event as EventEnvelope) : null
}

/** `1000,5000` (COMMAND_RETRY_DELAYS_MS) as milliseconds; a clear error for anything else. */
export function parseRetryDelays(text: string): number[] {
  const delays = text.split(',').map((part) => Number(part.trim()))
  if (delays.length === 0 || delays.some((delay) => !Number.isInteger(delay) || delay < 1)) {
    throw new Error(`retry delays ${JSON.stringify(text)}: expected comma-separated positive integers (ms)`)
  }
  return delays
}

/** The bus options the settings give (AMQP_URL, COMMAND_MAX_ATTEMPTS, COMMAND_RETRY_DELAYS_MS). */
export function rabbitMqBusOptions(
  config: Pick<Config, 'COMMAND_MAX_ATTEMPTS' | 'COMMAND_RETRY_DELAYS_MS'> & { AMQP_URL: string },
  logger: Logger,
): RabbitMqBusOptions {
  return {
    url: config.AMQP_URL,
    logger,
    maxAttempts: config.COMMAND_MAX_ATTEMPTS,
    retryDelaysMs: parseRetryDelays(config.COMMAND_RETRY_DELAYS_MS),
  }
}

export async function createRabbitMqBus(options: RabbitMqBusOptions): Promise<EventBus> {
  const { logger } = options
  const commandTypes = [...(options.commandTypes ?? DEFAULT_COMMAND_TYPES)]
  const maxAttempts = options.maxAttempts ?? 5
  const retryDelaysMs = [...(options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS)]
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
    throw new Error('maxAttempts must be an integer >= 1')
  if (retryDelaysMs.length === 0 || retryDelaysMs.some((delay) => !Number.isInteger(delay) || delay < 1)) {
    throw new Error('retryDelaysMs must be a non-empty list of positive integers (milliseconds)')
  }
  for (const type of commandTypes) {
    if (!NAME.test(type)) throw new Error(`command type ${JSON.stringify(type)} is not a valid routing key`)
  }

  const eventsExchange = { exchange: EVENTS_EXCHANGE, type: 'topic', durable: true } as const
  const commandsExchange = { exchange: COMMANDS_EXCHANGE, type: 'direct', durable: true } as const
  const exchanges = [eventsExchange, commandsExchange]
  const commandQueue = { queue: COMMANDS_QUEUE, durable: true, arguments: QUORUM }
  const commandBindings = commandTypes.map((type) => ({
    exchange: COMMANDS_EXCHANGE,
    queue: COMMANDS_QUEUE,
    routingKey: type,
  }))
  const queues: QueueDeclaration[] = [
    commandQueue,
    { queue: DEAD_LETTER_QUEUE, durable: true, arguments: QUORUM },
    ...[...new Set(retryDelaysMs)].map((delay) => ({
      queue: retryQueueName(delay),
      durable: true,
      arguments: {
        'x-message-ttl': delay,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': COMMANDS_QUEUE,
      },
    })),
  ]

  const connection = new Connection({
    url: options.url,
    connectionName: options.connectionName ?? `coffer-${process.pid}`,
    retryLow: 500,
    retryHigh: options.reconnectMaxDelayMs ?? 5000,
    acquireTimeout: 10_000,
  })
  let closed = false
  let outage = false
  connection.on('error', (error: unknown) => {
    if (connection.ready) {
      logger.error({ err: error }, 'RabbitMQ connection error')
      return
    }
    // One line per outage; the reconnection attempts of the same outage go to debug.
    if (outage) {
      logger.debug({ err: error }, 'RabbitMQ still unreachable')
      return
    }
    outage = true
    logger.error({ err: error }, 'RabbitMQ connection lost; reconnecting with backoff')
  })
  connection.on('connection', () => {
    if (outage) logger.warn('RabbitMQ connection restored')
    outage = false
  })

  // Declares the whole topology before its first publish and after every reconnection.
  const publisher: Publisher = connection.createPublisher({
    confirm: true,
    maxAttempts: 1,
    exchanges,
    queues,
    queueBindings: commandBindings,
  })
  publisher.on('basic.return', (message) => {
    logger.error(
      { exchange: message.exchange, routingKey: message.routingKey },
      'RabbitMQ returned a message',
    )
  })

  // Coffer starts without the broker (the outbox keeps the events): readiness says so, and the
  // publisher declares the topology once the connection is there.
  const connected = await connection.onConnect(options.connectTimeoutMs ?? 10_000, true).then(
    () => true,
    (error: unknown) => {
      logger.error({ err: error }, 'RabbitMQ not reachable at start-up; going on and reconnecting')
      return false
    },
  )
  if (connected) {
    try {
      const channel = await connection.acquire()
      try {
        for (const exchange of exchanges) await channel.exchangeDeclare(exchange)
        for (const queue of queues) await channel.queueDeclare(queue)
        for (const binding of commandBindings) await channel.queueBind(binding)
      } finally {
        await channel.close()
      }
    } catch (error) {
      if (connection.ready) {
        // A queue or exchange that exists with other arguments: a mistake to fix, not an outage.
        await publisher.close()
        await connection.close()
        throw new Error(`RabbitMQ topology could not be declared: ${errorMessage(error)}`)
      }
      logger.error({ err: error }, 'RabbitMQ connection lost while declaring the topology; reconnecting')
    }
  }

  const consumers = new Set<Consumer>()
  const ownUser = decodeURIComponent(new URL(options.url).username) || 'guest'

  /**
   * Who sent a command: the AMQP `user_id`, which the broker refuses unless it is the publishing
   * connection's user, so a service cannot pose as another. Only Coffer's own user may name the
   * sender it acts for (`app_id`: POST /operations sends as `coffer`). A command without
   * `user_id` has no sender (the handler dead-letters it). So each service needs a broker user
   * of its own; one sharing Coffer's credentials is trusted as Coffer is.
   */
  function senderOf(message: AsyncMessage): string | null {
    if (!message.userId) return null
    return message.userId === ownUser ? (message.appId ?? message.userId) : message.userId
  }

  /** A retried command keeps its sender: republished as Coffer's user naming it (none stays none). */
  function republishedSender(message: AsyncMessage): { userId?: string; appId?: string } {
    const sender = senderOf(message)
    return sender === null ? {} : { userId: ownUser, appId: sender }
  }

  function ensureUsable(): void {
    if (closed) throw new Error('the RabbitMQ event bus is closed')
  }

  /** Publishes one message and resolves on the broker's confirm; rejects at once when disconnected. */
  async function send(envelope: Envelope, body: Buffer): Promise<void> {
    ensureUsable()
    if (!connection.ready) throw new Error('RabbitMQ is not connected: message not published')
    await publisher.send(envelope, body)
  }

  function track(consumer: Consumer, what: string): Subscription {
    consumers.add(consumer)
    consumer.on('error', (error: unknown) =>
      logger.error({ err: error, consumer: what }, 'RabbitMQ consumer error'),
    )
    return {
      close: async () => {
        if (!consumers.delete(consumer)) return
        await consumer.close()
      },
    }
  }

  function waitReady(consumer: Consumer): Promise<void> {
    // Resolves once the consumer is registered, so a message sent next is never missed; when the
    // broker is away, resolves at once and the consumer starts with the connection.
    if (!connection.ready) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        consumer.off('ready', onReady)
        reject(new Error('RabbitMQ consumer not ready after 10 s'))
      }, 10_000)
      const onReady = () => {
        clearTimeout(timer)
        resolve()
      }
      consumer.once('ready', onReady)
    })
  }

  async function deadLetter(
    message: AsyncMessage,
    type: string,
    body: Buffer,
    reason: string,
    attempts: number,
  ) {
    await send(
      {
        exchange: '',
        routingKey: DEAD_LETTER_QUEUE,
        durable: true,
        contentType: message.contentType,
        contentEncoding: message.contentEncoding,
        messageId: message.messageId,
        correlationId: message.correlationId,
        replyTo: message.replyTo,
        ...republishedSender(message),
        type,
        headers: { ...republishedHeaders(message), [REASON_HEADER]: reason, [ATTEMPTS_HEADER]: attempts },
      },
      body,
    )
    logger.warn({ type, messageId: message.messageId, reason, attempts }, 'command dead-lettered')
  }

  async function retryLater(
    message: AsyncMessage,
    type: string,
    body: Buffer,
    reason: string,
    attempts: number,
  ) {
    const delay = retryDelaysMs[Math.min(attempts - 1, retryDelaysMs.length - 1)] as number
    await send(
      {
        exchange: '',
        routingKey: retryQueueName(delay),
        durable: true,
        contentType: message.contentType,
        messageId: message.messageId,
        correlationId: message.correlationId,
        replyTo: message.replyTo,
        ...republishedSender(message),
        type,
        headers: { ...republishedHeaders(message), [ATTEMPT_HEADER]: attempts, [REASON_HEADER]: reason },
      },
      body,
    )
  }

  return {
    async publish(events) {
      ensureUsable()
      await Promise.all(
        events.map((event) =>
          send(
            {
              exchange: EVENTS_EXCHANGE,
              routingKey: event.type,
              durable: true,
              messageId: event.id,
              type: event.type,
              contentType: 'application/json',
              timestamp: Math.floor(Date.parse(event.occurredAt) / 1000) || Math.floor(Date.now() / 1000),
              headers: {
                'x-coffer-version': event.version,
                'x-coffer-aggregate-type': event.aggregate.type,
                'x-coffer-aggregate-id': event.aggregate.id,
              },
            },
            Buffer.from(JSON.stringify(event)),
          ),
        ),
      )
    },

    async subscribe(name, patterns, handler: EventHandler, subscribeOptions = {}) {
      ensureUsable()
      const concurrency = subscribeOptions.concurrency ?? 1
      if (!Number.isInteger(concurrency) || concurrency < 1)
        throw new Error('concurrency must be an integer >= 1')
      if (!NAME.test(name))
        throw new Error(`subscription name ${JSON.stringify(name)}: letters, digits, . _ - only`)
      if (patterns.length === 0) throw new Error('subscribe needs at least one pattern')
      for (const pattern of patterns) {
        if (!PATTERN.test(pattern))
          throw new Error(`pattern ${JSON.stringify(pattern)} is not an AMQP topic pattern`)
      }
      // Broadcast: a server-named queue (declared as '', then bound and consumed as '', which AMQP
      // reads as the channel's last declared queue), exclusive to this connection and deleted
      // with it; a reconnection declares a new one. Otherwise the durable queue of `name`.
      const broadcast = subscribeOptions.broadcast === true
      const queue = broadcast ? '' : `${EVENTS_EXCHANGE}.${name}`
      const label = broadcast ? `${EVENTS_EXCHANGE}.${name} (broadcast)` : queue
      const consumer = connection.createConsumer(
        {
          queue,
          // Durable: one consumer at a time across processes (the others wait as standbys): with
          // two workers subscribed under one name, round-robin would break publish order.
          queueOptions: broadcast
            ? { exclusive: true, autoDelete: true, durable: false }
            : { durable: true, arguments: { ...QUORUM, 'x-single-active-consumer': true } },
          exchanges: [eventsExchange],
          queueBindings: patterns.map((routingKey) => ({ exchange: EVENTS_EXCHANGE, queue, routingKey })),
          qos: { prefetchCount: Math.max(64, 2 * concurrency) },
          // Started in delivery order; one at a time (the default) also finishes in it.
          concurrency,
          requeue: true,
        },
        async (message) => {
          const event = eventOf(message)
          if (!event) {
            logger.error(
              { queue: label, messageId: message.messageId },
              'dropped a message that is not a Coffer event',
            )
            return ConsumerStatus.DROP
          }
          // A throw nacks with requeue: the event comes again.
          await handler(event)
          return ConsumerStatus.ACK
        },
      )
      const ready = waitReady(consumer)
      const subscription = track(consumer, label)
      await ready
      return subscription
    },

    async sendCommand(type, body, sendOptions = {}) {
      if (!commandTypes.includes(type)) {
        throw new Error(
          `unknown command type ${JSON.stringify(type)}: expected one of ${commandTypes.join(', ')}`,
        )
      }
      // A Buffer goes as it is (a test can send what is not JSON); anything else as JSON.
      const json = Buffer.isBuffer(body) ? body : JSON.stringify(body)
      if (json === undefined) throw new Error('a command body must be JSON-serialisable')
      await send(
        {
          exchange: COMMANDS_EXCHANGE,
          routingKey: type,
          durable: true,
          type,
          messageId: randomUUID(),
          contentType: 'application/json',
          correlationId: sendOptions.correlationId,
          replyTo: sendOptions.replyTo,
          // The broker checks user_id against the connection's user; the sender Coffer names
          // travels in app_id, trusted only because user_id is Coffer's own (see senderOf).
          userId: ownUser,
          appId: sendOptions.sender,
        },
        Buffer.isBuffer(json) ? json : Buffer.from(json),
      )
    },

    async reply(replyTo, correlationId, body) {
      const json = JSON.stringify(body)
      if (json === undefined) throw new Error('a reply body must be JSON-serialisable')
      await send(
        {
          exchange: '',
          routingKey: replyTo,
          durable: true,
          contentType: 'application/json',
          correlationId: correlationId ?? undefined,
          messageId: randomUUID(),
        },
        Buffer.from(json),
      )
    },

    async consumeCommands(handler: CommandHandler, { prefetch }) {
      ensureUsable()
      if (!Number.isInteger(prefetch) || prefetch < 1) throw new Error('prefetch must be an integer >= 1')
      const consumer = connection.createConsumer(
        {
          queue: COMMANDS_QUEUE,
          queueOptions: commandQueue,
          exchanges: [commandsExchange],
          queueBindings: commandBindings,
          qos: { prefetchCount: prefetch },
          concurrency: prefetch,
          // Reached only when a retry or dead letter could not be published: the command stays.
          requeue: true,
        },
        async (message) => {
          const type = message.type ?? message.routingKey
          // Deliveries before this one: our retries, plus redeliveries after a lost consumer.
          const previous =
            integerHeader(message.headers, ATTEMPT_HEADER) +
            integerHeader(message.headers, 'x-delivery-count')
          const attempts = previous + 1
          const read = readBody(message)
          if (!read.ok) {
            await deadLetter(message, type, read.raw, read.reason, attempts)
            return ConsumerStatus.ACK
          }
          const command: CommandEnvelope = {
            type,
            body: read.body,
            sender: senderOf(message),
            replyTo: message.replyTo ?? null,
            correlationId: message.correlationId ?? null,
            attempt: previous,
            headers: { ...(message.headers ?? {}) },
          }
          let outcome: CommandOutcome
          try {
            outcome = await handler(command)
          } catch (error) {
            logger.error(
              { err: error, type, messageId: message.messageId },
              'command handler threw; retrying',
            )
            outcome = { kind: 'retry', reason: `handler error: ${errorMessage(error)}` }
          }
          if (outcome.kind === 'done') return ConsumerStatus.ACK
          if (outcome.kind === 'dead') {
            await deadLetter(message, type, read.body, outcome.reason, attempts)
          } else if (attempts >= maxAttempts) {
            await deadLetter(
              message,
              type,
              read.body,
              `gave up after ${attempts} attempts: ${outcome.reason}`,
              attempts,
            )
          } else {
            await retryLater(message, type, read.body, outcome.reason, attempts)
          }
          return ConsumerStatus.ACK
        },
      )
      const ready = waitReady(consumer)
      const subscription = track(consumer, COMMANDS_QUEUE)
      await ready
      return subscription
    },

    async check() {
      ensureUsable()
      if (!connection.ready) throw new Error('RabbitMQ is not connected (reconnecting)')
    },

    async close() {
      if (closed) return
      closed = true
      await Promise.all([...consumers].map((consumer) => consumer.close()))
      consumers.clear()
      await publisher.close()
      await connection.close()
    },
  }
}

/** The headers a republished command keeps: the broker's own bookkeeping is dropped. */
function republishedHeaders(message: AsyncMessage): Record<string, unknown> {
  const headers: Record<string, unknown> = { ...(message.headers ?? {}) }
  for (const name of [
    'x-death',
    'x-first-death-exchange',
    'x-first-death-queue',
    'x-first-death-reason',
    'x-delivery-count',
  ]) {
    delete headers[name]
  }
  return headers
}
