import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { withClient } from './database.js'

/**
 * The webhook side of the bench: a receiver on 127.0.0.1 of the bench's own (Coffer runs with
 * WEBHOOK_ALLOW_LOCALHOST=true for it), which answers 204 at once and timestamps each message.
 * Receiving costs the bench process, not Coffer: it neither verifies signatures nor parses more
 * of the body than the event's type and timestamp.
 */

export interface ReceivedWebhook {
  /** webhook-id: one per subscription and event, the same on a retry. */
  messageId: string
  type: string
  /** Date.now() when the receiver had the whole body. */
  receivedAt: number
  /** Date.parse of the body's `timestamp`: the commit, as Coffer stamps it. */
  occurredAt: number
}

export interface WebhookReceiver {
  url: string
  received: ReceivedWebhook[]
  /** Distinct webhook-ids seen. */
  distinct(): number
  close(): Promise<void>
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = []
  const ids = new Set<string>()
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const receivedAt = Date.now()
      const messageId = String(request.headers['webhook-id'] ?? '')
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          type?: string
          timestamp?: string
        }
        received.push({
          messageId,
          type: body.type ?? '',
          receivedAt,
          occurredAt: Date.parse(body.timestamp ?? ''),
        })
        ids.add(messageId)
      } catch {
        // Not JSON: counted nowhere, so a broken body shows up as missing deliveries.
      }
      response.statusCode = 204
      response.end()
    })
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/coffer-bench`,
    received,
    distinct: () => ids.size,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/**
 * The end of a range of at most `limit` outbox events from the start: replaying [epoch, end)
 * gives a backlog of that many deliveries, within what one replay call takes.
 */
export async function outboxRangeEnd(
  databaseUrl: string,
  limit: number,
): Promise<{ end: Date; events: number }> {
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ created_at: Date }>(
      'select created_at from outbox order by seq offset $1 limit 1',
      [limit],
    )
    // Events of one group commit share an instant: the range ends before the first of them.
    const end = rows[0]?.created_at ?? new Date(Date.now() + 1000)
    const { rows: counted } = await client.query<{ n: string }>(
      'select count(*)::text as n from outbox where created_at < $1',
      [end],
    )
    return { end, events: Number(counted[0]!.n) }
  })
}

/** Waits until the receiver has `expected` distinct messages, or the timeout passed. */
export async function waitForWebhooks(
  receiver: WebhookReceiver,
  expected: number,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (receiver.distinct() < expected) {
    if (Date.now() > deadline) return false
    await sleep(50)
  }
  return true
}

export interface WebhookPhaseContext {
  /** The `coffer start` under test. */
  apiUrl: string
  auth: Record<string, string>
  benchUrl: string
  /** Offered load at a fixed rate for `duration` seconds; resolves with autocannon's result. */
  transfersAtRate: (
    rate: number,
    duration: number,
  ) => Promise<{ ok: number; duration: number; serverErrors: number }>
  warmup: number
  duration: number
  log: (line: string) => void
}

export interface WebhookFigures {
  drain: { deliveries: number; delivered: number; eventsPerSecond: number | null; drained: boolean }
  lag: {
    offeredPerSecond: number
    transfersPerSecond: number
    lagsMs: number[]
    expected: number
    settled: boolean
    serverErrors: number
  } | null
}

/** Deliveries replayed for the drain phase: one replay call's worth. */
const DRAIN_DELIVERIES = 10_000
const DRAIN_TIMEOUT_MS = 120_000
const SETTLE_TIMEOUT_MS = 15_000
export const WEBHOOK_OFFERED_TRANSFERS = 1000

async function api(context: WebhookPhaseContext, method: string, path: string, body?: unknown) {
  const response = await fetch(`${context.apiUrl}/api/v1${path}`, {
    method,
    headers: { ...context.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`)
  return text ? (JSON.parse(text) as Record<string, unknown>) : {}
}

/**
 * Two phases against one receiver. Drain: a subscription to every event replays the first
 * 10,000 events of the outbox (the funding's), and the receiver's arrival rate is the delivery
 * throughput. Lag: a subscription to transaction.posted while transfers run at a fixed offered
 * 1,000/s; each delivery's lag is its arrival minus the event's commit instant.
 */
export async function measureWebhookDelivery(context: WebhookPhaseContext): Promise<WebhookFigures> {
  const receiver = await startWebhookReceiver()
  try {
    const all = await api(context, 'POST', '/webhooks', { url: receiver.url, description: 'bench: drain' })
    const range = await outboxRangeEnd(context.benchUrl, DRAIN_DELIVERIES)
    const replay = await api(context, 'POST', `/webhooks/${all.id as string}/replay`, {
      from: '1970-01-01T00:00:00.000Z',
      to: range.end.toISOString(),
    })
    const deliveries = Number(replay.deliveries ?? range.events)
    context.log(`webhooks: ${deliveries} deliveries replayed to a local receiver`)
    const drained = await waitForWebhooks(receiver, deliveries, DRAIN_TIMEOUT_MS)
    const firsts = [...new Map(receiver.received.map((r) => [r.messageId, r] as const)).values()]
    const spanMs = firsts.length > 1 ? firsts.at(-1)!.receivedAt - firsts[0]!.receivedAt : 0
    const drain = {
      deliveries,
      delivered: receiver.distinct(),
      eventsPerSecond: spanMs > 0 ? ((firsts.length - 1) * 1000) / spanMs : null,
      drained,
    }
    await api(context, 'DELETE', `/webhooks/${all.id as string}`)
    if (!drained) return { drain, lag: null }

    await api(context, 'POST', '/webhooks', {
      url: receiver.url,
      eventTypes: ['transaction.posted'],
      description: 'bench: lag',
    })
    if (context.warmup > 0) await context.transfersAtRate(WEBHOOK_OFFERED_TRANSFERS, context.warmup)
    await sleep(1000)
    const from = receiver.received.length
    const load = await context.transfersAtRate(WEBHOOK_OFFERED_TRANSFERS, context.duration)
    const postedSince = () => receiver.received.slice(from).filter((r) => r.type === 'transaction.posted')
    const deadline = Date.now() + SETTLE_TIMEOUT_MS
    while (postedSince().length < load.ok && Date.now() < deadline) await sleep(100)
    const lagsMs = postedSince()
      .filter((r) => Number.isFinite(r.occurredAt))
      .map((r) => Math.max(0, r.receivedAt - r.occurredAt))
    return {
      drain,
      lag: {
        offeredPerSecond: WEBHOOK_OFFERED_TRANSFERS,
        transfersPerSecond: load.ok / load.duration,
        lagsMs,
        expected: load.ok,
        settled: postedSince().length >= load.ok,
        serverErrors: load.serverErrors,
      },
    }
  } finally {
    await receiver.close()
  }
}
