import { Histogram } from 'prom-client'
import { registry } from './registry.js'

/**
 * Request duration by method, route template (`/api/v1/wallets/:id`, never the URL with its
 * ids) and status. The buckets span a cached read (~1 ms) to a long statement answered at once.
 */
export const httpRequestDuration = new Histogram({
  name: 'coffer_http_request_duration_seconds',
  help: 'Time from the request to its response, by method, route template and status code.',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
})

/** The route of a request no route matched (a 404), so unknown URLs add one series, not one each. */
export const UNMATCHED_ROUTE = 'unmatched'

/**
 * One observation per response. The label set is bounded: methods Node's parser accepts, the
 * app's route templates, HTTP statuses.
 */
export function observeHttpRequest(
  method: string,
  route: string | undefined,
  statusCode: number,
  seconds: number,
): void {
  httpRequestDuration.observe({ method, route: route ?? UNMATCHED_ROUTE, status_code: statusCode }, seconds)
}
