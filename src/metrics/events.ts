import { Counter, Gauge } from 'prom-client'
import { boundedLabel, registry } from './registry.js'

/** The outbox's figures, as `outboxStats` (src/events/relay.ts) reads them. */
export interface OutboxFigures {
  backlog: number
  lagSeconds: number
}

/** A scrape waits this long for the outbox's figures, then shows the last ones it got. */
const OUTBOX_READ_TIMEOUT_MS = 2000

let readOutbox: (() => Promise<OutboxFigures>) | null = null
let lastRead: Promise<void> | null = null

/**
 * Where the outbox gauges read their figures at each scrape: the process that exposes metrics
 * (an API process, or a worker with METRICS_PORT) reads its primary database. Returns the undo,
 * which only undoes this reader (a later one stays).
 */
export function readOutboxFiguresFrom(read: () => Promise<OutboxFigures>): () => void {
  readOutbox = read
  return () => {
    if (readOutbox === read) readOutbox = null
  }
}

/**
 * Both gauges come from one query per scrape: the first gauge's collect reads, the second
 * awaits the same read. With the database slow or down the scrape still answers, in time, with
 * the figures of the last read that worked (and the database's own metrics say why).
 */
async function collectOutbox(): Promise<void> {
  const read = readOutbox
  if (!read) return
  let timer: NodeJS.Timeout | undefined
  try {
    const figures = await Promise.race([
      read(),
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), OUTBOX_READ_TIMEOUT_MS)
      }),
    ])
    if (!figures) return
    outboxBacklog.set(figures.backlog)
    outboxLag.set(figures.lagSeconds)
  } catch {
    // Kept: the last figures; database_unavailable is visible in /health and the pool gauges.
  } finally {
    clearTimeout(timer)
  }
}

function collectOutboxOnce(): Promise<void> {
  lastRead ??= collectOutbox().finally(() => {
    lastRead = null
  })
  return lastRead
}

export const outboxBacklog = new Gauge({
  name: 'coffer_outbox_backlog_events',
  help: 'Outbox events committed and not yet published to the bus, read from the database at scrape.',
  registers: [registry],
  collect: collectOutboxOnce,
})

export const outboxLag = new Gauge({
  name: 'coffer_outbox_lag_seconds',
  help: 'Age of the oldest unpublished outbox event (0 with none), read from the database at scrape.',
  registers: [registry],
  collect: collectOutboxOnce,
})

export const outboxPublished = new Counter({
  name: 'coffer_outbox_published_total',
  help: "Outbox events this process's relay published to the bus.",
  registers: [registry],
})

export const commandsConsumed = new Counter({
  name: 'coffer_commands_consumed_total',
  help: 'Deliveries of coffer.commands handled by this process, by command type and outcome (done, retry, dead).',
  labelNames: ['type', 'outcome'] as const,
  registers: [registry],
})

export const commandsRetried = new Counter({
  name: 'coffer_commands_retried_total',
  help: 'Commands sent back for another delivery after a backoff (a transient failure).',
  labelNames: ['type'] as const,
  registers: [registry],
})

export const commandsDeadLettered = new Counter({
  name: 'coffer_commands_dead_lettered_total',
  help: 'Commands sent to coffer.commands.dead, by type and reason (a refusal code, invalid_body, unknown_sender, attempts_exhausted, ...).',
  labelNames: ['type', 'reason'] as const,
  registers: [registry],
})

/**
 * One delivery's outcome, as the handler decided it and the bus will act on it: `retry` past the
 * last attempt is a dead letter (the bus gives up), counted as `attempts_exhausted`. `type` is a
 * known command type or `unknown` (the caller bounds it: it arrives from outside).
 */
export function countCommand(
  type: string,
  outcome: { kind: 'done' } | { kind: 'retry' } | { kind: 'dead'; reason: string },
  lastAttempt: boolean,
): void {
  commandsConsumed.inc({ type, outcome: outcome.kind })
  if (outcome.kind === 'dead') commandsDeadLettered.inc({ type, reason: boundedLabel(outcome.reason) })
  else if (outcome.kind === 'retry') {
    if (lastAttempt) commandsDeadLettered.inc({ type, reason: 'attempts_exhausted' })
    else commandsRetried.inc({ type })
  }
}
