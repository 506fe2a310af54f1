import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import { type OutboxFigures, readOutboxFiguresFrom } from '../metrics/events.js'
import { METRICS_CONTENT_TYPE, renderMetrics, startProcessMetrics } from '../metrics/registry.js'

export interface MetricsListenerOptions {
  port: number
  host: string
  logger: Logger
  /** The outbox's figures at each scrape (outboxStats on the primary). */
  outbox: () => Promise<OutboxFigures>
}

export interface MetricsListener {
  /** The port it listens on (the one asked for, or the one the system chose for 0). */
  port: number
  close(): Promise<void>
}

/**
 * METRICS_PORT: `GET /metrics` without authentication on a port of its own, for networks where
 * the scraper cannot hold an API key; a bare node:http server, so a worker process, which has no
 * API, serves it too. Nothing else is answered there: any other path is a 404. Bind it (HOST) to
 * an interface only the monitoring network reaches.
 */
export async function startMetricsListener(options: MetricsListenerOptions): Promise<MetricsListener> {
  startProcessMetrics()
  const stopReading = readOutboxFiguresFrom(options.outbox)
  const server = createServer((request, response) => {
    const path = request.url?.split('?', 1)[0]
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
      return
    }
    renderMetrics().then(
      (exposition) => {
        response.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE })
        response.end(request.method === 'HEAD' ? undefined : exposition)
      },
      (error: unknown) => {
        options.logger.error({ err: error }, 'metrics could not be collected')
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n')
      },
    )
  })
  try {
    await listen(server, options.port, options.host)
  } catch (error) {
    stopReading()
    throw error
  }
  const port = (server.address() as AddressInfo).port
  options.logger.info({ port, host: options.host }, 'metrics listening (METRICS_PORT)')
  return {
    port,
    close: async () => {
      stopReading()
      const closed = new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      )
      // A scrape cut short is only a missed sample; a scraper's keep-alive must not hold the shutdown.
      server.closeAllConnections()
      await closed
    },
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}
