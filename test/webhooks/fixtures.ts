import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import { expect } from 'vitest'
import type { WebhookView } from '../../src/webhooks/webhooks.schemas.js'
import { startWebhooks, type WebhooksOptions } from '../../src/worker/webhooks.js'
import { createTestApp, type TestApp, type TestAppOptions } from '../app.js'
import type { AuthHeaders } from '../auth-fixtures.js'
import { eventually } from '../wallets/fixtures.js'

/** Settings the delivery tests run with: local receivers, quick retries, a short timeout. */
export const WEBHOOK_TEST_ENV = {
  WEBHOOK_ALLOW_LOCALHOST: 'true',
  WEBHOOK_RETRY_DELAYS_MS: '50,100',
  WEBHOOK_TIMEOUT_MS: '300',
  WEBHOOK_DISABLE_AFTER_FAILURES: '3',
}

/** One request as the receiver saw it. */
export interface ReceivedRequest {
  webhookId: string
  headers: Record<string, string>
  rawBody: string
  body: {
    id: string
    type: string
    timestamp: string
    version: number
    aggregate: { type: string; id: string }
    data: Record<string, unknown>
  }
  /** The secrets (of `receiver.secrets`) the signature verifies with, by the library. */
  verifiedWith: string[]
  /** What the receiver answered: a status, or 'hang' (never answered). */
  answer: number | 'hang'
  /** Date.now() when the request's body had arrived. */
  receivedAt: number
}

export type Answer = (request: ReceivedRequest, nth: number) => number | 'hang'

/** A node:http receiver on 127.0.0.1 that verifies every request with `standardwebhooks`. */
export interface Receiver {
  url: string
  requests: ReceivedRequest[]
  secrets: string[]
  answer: Answer
  /** Requests answered 2xx, de-duplicated by webhook-id, in the order first received. */
  delivered(): ReceivedRequest[]
  close(): Promise<void>
}

export async function startReceiver(answer: Answer = () => 200): Promise<Receiver> {
  const hanging = new Set<ServerResponse>()
  const receiver: Receiver = {
    url: '',
    requests: [],
    secrets: [],
    answer,
    delivered() {
      const seen = new Set<string>()
      return this.requests.filter((r) => {
        if (r.answer === 'hang' || r.answer >= 300 || seen.has(r.webhookId)) return false
        seen.add(r.webhookId)
        return true
      })
    },
    close: async () => {
      for (const response of hanging) response.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8')
      const headers = Object.fromEntries(
        Object.entries(request.headers).map(([name, value]) => [
          name,
          Array.isArray(value) ? value.join(',') : (value ?? ''),
        ]),
      )
      const verifiedWith = receiver.secrets.filter((secret) => {
        try {
          new Webhook(secret).verify(rawBody, headers)
          return true
        } catch {
          return false
        }
      })
      const received: ReceivedRequest = {
        webhookId: headers['webhook-id'] ?? '',
        headers,
        rawBody,
        body: JSON.parse(rawBody) as ReceivedRequest['body'],
        verifiedWith,
        answer: 200,
        receivedAt: Date.now(),
      }
      const nth = receiver.requests.filter((r) => r.webhookId === received.webhookId).length
      received.answer = receiver.answer(received, nth)
      receiver.requests.push(received)
      if (received.answer === 'hang') {
        hanging.add(response)
        return
      }
      response.writeHead(received.answer, { 'content-type': 'text/plain' }).end(`answer ${received.answer}`)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  return receiver
}

/** An app whose outbox is relayed continuously (as the worker does) and whose webhooks run. */
export interface WebhookTestApp extends TestApp {
  stopWebhooks(): Promise<void>
  startWebhooks(options?: WebhooksOptions): Promise<void>
}

export async function createWebhookTestApp(options: TestAppOptions = {}): Promise<WebhookTestApp> {
  const t = await createTestApp({ ...options, env: { ...WEBHOOK_TEST_ENV, ...options.env } })
  let relaying = true
  const relay = (async () => {
    while (relaying) {
      await t.container.relay.run().catch(() => 0)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  })()
  let running: Awaited<ReturnType<typeof startWebhooks>> | null = null
  const app: WebhookTestApp = {
    ...t,
    startWebhooks: async (webhookOptions) => {
      running = await startWebhooks(t.container, webhookOptions)
    },
    stopWebhooks: async () => {
      await running?.close()
      running = null
    },
    close: async () => {
      await app.stopWebhooks()
      relaying = false
      await relay
      await t.close()
    },
  }
  await app.startWebhooks()
  return app
}

export async function createWebhook(
  t: TestApp,
  headers: AuthHeaders,
  payload: Record<string, unknown>,
): Promise<WebhookView & { secret: string }> {
  const response = await t.app.inject({ method: 'POST', url: '/api/v1/webhooks', headers, payload })
  expect(response.statusCode, response.body).toBe(201)
  return response.json()
}

export interface DeliveryLogEntry {
  id: string
  eventId: string
  eventType: string
  status: string
  attempts: number
  lastStatusCode: number | null
  lastLatencyMs: number | null
  lastError: string | null
  lastAttemptAt: string | null
  nextAttemptAt: string | null
  createdAt: string
  completedAt: string | null
}

export async function deliveryLog(
  t: TestApp,
  headers: AuthHeaders,
  webhookId: string,
  query = '',
): Promise<DeliveryLogEntry[]> {
  const response = await t.app.inject({
    method: 'GET',
    url: `/api/v1/webhooks/${webhookId}/deliveries?limit=500${query}`,
    headers,
  })
  expect(response.statusCode, response.body).toBe(200)
  return response.json<{ items: DeliveryLogEntry[] }>().items
}

export async function getWebhook(t: TestApp, headers: AuthHeaders, id: string): Promise<WebhookView> {
  const response = await t.app.inject({ method: 'GET', url: `/api/v1/webhooks/${id}`, headers })
  expect(response.statusCode, response.body).toBe(200)
  return response.json()
}

export { eventually }
