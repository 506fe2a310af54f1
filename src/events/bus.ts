/**
 * The one interface every producer and consumer of events and commands goes through. Two
 * implementations: RabbitMQ (services shape, `AMQP_URL`) and in-process (embedded shape). Only the
 * wiring (src/container.ts) knows which one it has.
 */

/** An event as it leaves Coffer: the outbox row, with its contract version. */
export interface EventEnvelope {
  /** The outbox id (UUIDv7): consumers de-duplicate on it; also the AMQP message_id. */
  id: string
  /** e.g. `transaction.posted`; the routing key on `coffer.events`. */
  type: string
  /** Version of the payload's schema for this type. */
  version: number
  /** When the change committed (the outbox row's created_at), RFC 3339. */
  occurredAt: string
  aggregate: { type: string; id: string }
  /** Amounts are decimal strings, as in the API. */
  data: Record<string, unknown>
}

/** A command as it arrives (`deposit.requested`, ...): AMQP routing key = type. */
export interface CommandEnvelope {
  type: string
  /** Raw body as received, parsed and validated by the command handler (not by the bus). */
  body: Buffer
  /** Who sent it, as the transport knows it (AMQP `user_id`/`app_id` header, or the in-process caller). */
  sender: string | null
  replyTo: string | null
  correlationId: string | null
  /** How many times this command was delivered before (0 the first time). */
  attempt: number
  headers: Record<string, unknown>
}

/** What a command handler decides; the bus acts on it only after the handler's work committed. */
export type CommandOutcome =
  | { kind: 'done' }
  /** Transient (database down, serialization, lock timeout): redeliver after a backoff. */
  | { kind: 'retry'; reason: string }
  /** Permanent (invalid body, unknown wallet, insufficient funds): to the dead-letter queue. */
  | { kind: 'dead'; reason: string }

export type EventHandler = (event: EventEnvelope) => Promise<void>
export type CommandHandler = (command: CommandEnvelope) => Promise<CommandOutcome>

export interface SubscribeOptions {
  /**
   * Handlers of this subscription running at once (default 1). They are started in publish order
   * and each event is acknowledged when its own handler resolves, so with more than one a handler
   * that needs its effects in publish order must serialize them itself (the webhook fan-out
   * batches its inserts in arrival order). The in-process bus runs one at a time regardless.
   */
  concurrency?: number
  /**
   * Every process subscribing gets every event (a cache each API process keeps), instead of one
   * durable queue shared under `name`. On RabbitMQ: a server-named, exclusive, auto-delete queue,
   * gone with the connection, so events published while the process (or its connection) is away
   * are not kept for it. The in-process bus already delivers to every subscriber of the process.
   */
  broadcast?: boolean
}

export interface Subscription {
  close(): Promise<void>
}

export interface EventBus {
  /**
   * Publishes events in the given order and resolves once every one is safely handed over:
   * confirmed by the broker (publisher confirms), or delivered to every in-process subscriber.
   * Rejects if any was not; the caller (the relay) then publishes them again later.
   */
  publish(events: EventEnvelope[]): Promise<void>
  /**
   * Delivers events whose type matches one of `patterns` (AMQP topic syntax: `*` one word, `#`
   * any) to `handler`, at least once, in publish order. `name` names a durable queue on the
   * broker, so a subscriber that restarts misses nothing; processes subscribing under the same
   * name share it, one of them consuming at a time (the others take over if it goes away);
   * unless `options.broadcast`, where each process has a queue of its own for as long as it lives.
   */
  subscribe(
    name: string,
    patterns: string[],
    handler: EventHandler,
    options?: SubscribeOptions,
  ): Promise<Subscription>
  /** Sends a command (tests, the async operations API); `replyTo`/`correlationId` optional. */
  sendCommand(
    type: string,
    body: unknown,
    options?: { replyTo?: string; correlationId?: string; sender?: string },
  ): Promise<void>
  /**
   * Answers a command that named `replyTo` (an AMQP queue, or an in-process name), with its
   * `correlationId`; resolves once handed over (confirmed). Optional so that a bus written before
   * it still compiles; the command handler logs when a reply was asked of a bus without it.
   */
  reply?(replyTo: string, correlationId: string | null, body: unknown): Promise<void>
  /** Consumes `coffer.commands` with the given prefetch; retries and dead letters per outcome. */
  consumeCommands(handler: CommandHandler, options: { prefetch: number }): Promise<Subscription>
  /** Throws when the bus cannot currently deliver (broker down); for /health/ready. */
  check(): Promise<void>
  close(): Promise<void>
}
