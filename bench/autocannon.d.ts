/**
 * The part of autocannon 9's API the bench uses. autocannon ships no types and @types/autocannon
 * describes version 7, so these few declarations stand in for a dependency.
 */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  export interface RequestParams {
    method: string
    path: string
    headers: Record<string, string>
    body?: string | Buffer
  }

  export interface Request {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string
    /** Called before each send; what it returns is sent. */
    setupRequest?: (request: RequestParams, context: Record<string, unknown>) => RequestParams
    /** Called with each response; its body is read only when this is set. */
    onResponse?: (
      status: number,
      body: string,
      context: Record<string, unknown>,
      headers: Record<string, string>,
    ) => void
  }

  export interface Options {
    url: string
    connections?: number
    duration?: number
    pipelining?: number
    timeout?: number
    headers?: Record<string, string>
    requests?: Request[]
    warmup?: { connections?: number; duration: number }
    excludeErrorStats?: boolean
    /** Requests per second over all connections (a fixed offered load). */
    overallRate?: number
  }

  export interface Histogram {
    average: number
    mean: number
    stddev: number
    min: number
    max: number
    total: number
    p50: number
    p90: number
    p97_5: number
    p99: number
  }

  export interface Result {
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    resets: number
    mismatches: number
    '1xx': number
    '2xx': number
    '3xx': number
    '4xx': number
    '5xx': number
    statusCodeStats: Record<string, { count: number }>
    latency: Histogram
    requests: Histogram & { sent: number }
    throughput: Histogram
  }

  export interface Instance extends EventEmitter, PromiseLike<Result> {
    stop(): void
  }

  function autocannon(options: Options): Instance
  export default autocannon
}
