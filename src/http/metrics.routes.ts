import { Type } from 'typebox'
import type { Db } from '../db/database.js'
import { outboxStats } from '../events/relay.js'
import { readOutboxFiguresFrom } from '../metrics/events.js'
import { observeHttpRequest } from '../metrics/http.js'
import { METRICS_CONTENT_TYPE, renderMetrics, startProcessMetrics } from '../metrics/registry.js'
import type { App } from './app-type.js'
import { problemResponses } from './problem.schemas.js'
import { security } from './route-conventions.js'

/**
 * Times every response for coffer_http_request_duration_seconds, on the root instance so it sees
 * every route and the 404s. The label is the route template (`request.routeOptions.url`), never
 * the URL, whose ids would make a series per wallet. `reply.elapsedTime` is Fastify's own clock
 * from the start of the request: the hook adds one histogram observation and no timer of its own.
 */
export function registerHttpMetrics(app: App): void {
  app.addHook('onResponse', (request, reply, done) => {
    observeHttpRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000)
    done()
  })
}

export interface MetricsRouteDeps {
  /** The primary database, where the outbox gauges read the backlog and lag at each scrape. */
  db: Db
}

/**
 * `GET /metrics`: the process's Prometheus metrics, for an admin or a service API key (how
 * Prometheus scrapes by default: `authorization` with a `ck_...` key). Where the scraper cannot
 * hold a key, METRICS_PORT serves the same text without auth on a port of its own
 * (src/http/metrics-listener.ts). See docs/operations.md.
 */
export async function metricsRoutes(app: App, deps: MetricsRouteDeps) {
  startProcessMetrics()
  const stopReading = readOutboxFiguresFrom(() => outboxStats(deps.db))
  app.addHook('onClose', async () => stopReading())

  app.get(
    '/metrics',
    {
      config: { access: ['admin', 'service'] },
      schema: {
        operationId: 'getMetrics',
        tags: ['health'],
        summary: 'Prometheus metrics of this process (admin or service principal)',
        description:
          'Admins and services (an API key, as Prometheus sends it). Where the scraper holds no key, METRICS_PORT serves the same text without auth on a port of its own.',
        security,
        response: {
          200: {
            description: 'The Prometheus text exposition format, version 0.0.4',
            content: { 'text/plain': { schema: Type.String() } },
          },
          ...problemResponses(401, 403),
        },
      },
    },
    async (_request, reply) => {
      const exposition = await renderMetrics()
      return reply.type(METRICS_CONTENT_TYPE).send(exposition)
    },
  )
}
