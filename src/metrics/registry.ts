/**
 * The one Prometheus registry of a process. A leaf: it imports no project file and nothing of
 * HTTP, so the ledger, the worker and services count into it without knowing who exposes it
 * (the /metrics route of src/http/metrics.routes.ts, or the METRICS_PORT listener).
 */
import { collectDefaultMetrics, Registry } from 'prom-client'

export const registry = new Registry()

/** The exposition's content type: `text/plain; version=0.0.4; charset=utf-8`. */
export const METRICS_CONTENT_TYPE = registry.contentType

let processMetricsStarted = false

/**
 * Default gauges named like counters, which `promtool check metrics` rejects; their per-type
 * siblings (nodejs_active_handles{type}, ...) carry the same figures, summed by sum().
 */
const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
]

/**
 * prom-client's default metrics (CPU, memory, heap, GC, handles, and the event-loop lag from
 * perf_hooks' monitorEventLoopDelay), started by whatever exposes the registry, so a one-shot
 * command (`coffer verify`) that never answers a scrape never samples the event loop.
 */
export function startProcessMetrics(): void {
  if (processMetricsStarted) return
  processMetricsStarted = true
  collectDefaultMetrics({ register: registry })
  for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name)
}

/** The exposition of every metric, as a scrape gets it. */
export function renderMetrics(): Promise<string> {
  return registry.metrics()
}

/**
 * A label value from a bounded vocabulary: a code, a type or a reason's first word, never free
 * text nor an id. Anything else is `other`, so no caller can grow the series without bound.
 */
export function boundedLabel(value: string | undefined | null): string {
  if (!value) return 'other'
  const word = value.split(':', 1)[0]!.trim()
  return /^[a-z][a-z0-9_.]{0,63}$/.test(word) ? word : 'other'
}
