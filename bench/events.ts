import { execFile } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { Connection, type Consumer } from 'rabbitmq-client'
import { withClient } from './database.js'

/**
 * The event side of the bench: a RabbitMQ vhost of the run's own (so no other consumer of the
 * shared broker takes the bench's commands, and the bench's events reach nobody else), and a
 * consumer of the bench's own bound to every event on `coffer.events`, which timestamps each
 * delivery.
 */

const run = promisify(execFile)
const EVENTS_EXCHANGE = 'coffer.events'
const CONNECT_TIMEOUT_MS = 5000

export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672'

export interface Broker {
  /** AMQP URL of the bench's vhost, for the coffer process. */
  url: string
  vhost: string
  /** Deletes the vhost (and everything Coffer declared in it). */
  remove(): Promise<void>
}

/** The vhost, or why there is none (RabbitMQ not reachable, rabbitmqctl refused). */
export async function openBroker(baseUrl: string, vhost: string): Promise<Broker | { unavailable: string }> {
  const base = new URL(baseUrl)
  const probe = new Connection({ url: baseUrl, retryLow: 200, retryHigh: 500, connectionTimeout: 2000 })
  probe.on('error', () => undefined)
  try {
    await probe.onConnect(CONNECT_TIMEOUT_MS)
  } catch (error) {
    return { unavailable: `RabbitMQ not reachable at ${base.host}: ${(error as Error).message}` }
  } finally {
    // close() of a connection that never connected never settles: do not wait for it long.
    await Promise.race([probe.close().catch(() => undefined), sleep(500)])
  }
  const user = decodeURIComponent(base.username || 'guest')
  try {
    await run('rabbitmqctl', ['-q', 'add_vhost', vhost], { timeout: 60_000 })
    await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, user, '.*', '.*', '.*'], {
      timeout: 60_000,
    })
  } catch (error) {
    await run('rabbitmqctl', ['-q', 'delete_vhost', vhost], { timeout: 60_000 }).catch(() => undefined)
    return { unavailable: `could not create a vhost of the bench's own: ${(error as Error).message}` }
  }
  const url = new URL(baseUrl)
  url.pathname = `/${encodeURIComponent(vhost)}`
  return {
    url: url.toString(),
    vhost,
    remove: async () => {
      await run('rabbitmqctl', ['-q', 'delete_vhost', vhost], { timeout: 60_000 })
    },
  }
}

export interface Delivery {
  type: string
  /** Date.now() when the bench's consumer got it. */
  receivedAt: number
  /** Date.parse(occurredAt): the commit, as Coffer stamps it. */
  occurredAt: number
  operationId?: string
}

/** Every event on coffer.events, as the bench's own exclusive queue receives it. */
export interface EventTap {
  count(type?: string): number
  /** Deliveries from index `from` on (take `count()` before a phase to read only its own). */
  since(from: number): Delivery[]
  /** receivedAt of each operation.succeeded / operation.failed, by operationId. */
  outcomes: Map<string, { status: 'succeeded' | 'failed'; receivedAt: number }>
  close(): Promise<void>
}

function parseBody(body: unknown): Record<string, unknown> | null {
  try {
    if (Buffer.isBuffer(body)) return JSON.parse(body.toString('utf8')) as Record<string, unknown>
    if (typeof body === 'string') return JSON.parse(body) as Record<string, unknown>
    if (body && typeof body === 'object') return body as Record<string, unknown>
  } catch {
    // not JSON: counted, without a time of commit
  }
  return null
}

export async function tapEvents(url: string): Promise<EventTap> {
  const connection = new Connection({ url, retryHigh: 1000 })
  connection.on('error', () => undefined)
  await connection.onConnect(CONNECT_TIMEOUT_MS)
  const deliveries: Delivery[] = []
  const byType = new Map<string, number>()
  const outcomes: EventTap['outcomes'] = new Map()
  const queue = `bench.tap.${process.pid}`
  const consumer: Consumer = connection.createConsumer(
    {
      queue,
      queueOptions: { exclusive: true, autoDelete: true },
      exchanges: [{ exchange: EVENTS_EXCHANGE, type: 'topic', durable: true }],
      queueBindings: [{ exchange: EVENTS_EXCHANGE, queue, routingKey: '#' }],
      qos: { prefetchCount: 2000 },
      noAck: true,
    },
    async (message) => {
      const receivedAt = Date.now()
      const body = parseBody(message.body)
      const type = String(body?.type ?? message.routingKey)
      const occurredAt = typeof body?.occurredAt === 'string' ? Date.parse(body.occurredAt) : Number.NaN
      const data = (body?.data ?? {}) as { operationId?: string; status?: string }
      const delivery: Delivery = { type, receivedAt, occurredAt }
      if (type === 'operation.succeeded' || type === 'operation.failed') {
        if (data.operationId) {
          delivery.operationId = data.operationId
          if (!outcomes.has(data.operationId))
            outcomes.set(data.operationId, {
              status: type === 'operation.succeeded' ? 'succeeded' : 'failed',
              receivedAt,
            })
        }
      }
      deliveries.push(delivery)
      byType.set(type, (byType.get(type) ?? 0) + 1)
    },
  )
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the bench consumer did not start')), CONNECT_TIMEOUT_MS)
    consumer.once('ready', () => {
      clearTimeout(timer)
      resolve()
    })
  })
  return {
    count: (type) => (type === undefined ? deliveries.length : (byType.get(type) ?? 0)),
    since: (from) => deliveries.slice(from),
    outcomes,
    close: async () => {
      await Promise.race([consumer.close(), sleep(5000)])
      await Promise.race([connection.close(), sleep(5000)])
    },
  }
}

export async function outboxBacklog(databaseUrl: string): Promise<number> {
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ n: number }>(
      'select count(*)::int as n from outbox where published_at is null',
    )
    return rows[0]?.n ?? 0
  })
}

/** Polls until the outbox has no unpublished row and the tap has seen `expected` events. */
export async function waitForDrain(
  databaseUrl: string,
  tap: EventTap,
  expected: number,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (tap.count() >= expected && (await outboxBacklog(databaseUrl)) === 0) return true
    await sleep(100)
  }
  return false
}

/** Nearest-rank percentile of unsorted values, null when there are none. */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
