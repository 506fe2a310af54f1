import { IDEMPOTENCY_KEY_HEADER } from './idempotency-key.js'

export interface RetryOptions {
  /** Tries in all, the first included; 1 turns retries off. Default 3. */
  attempts?: number
  /** The first backoff; each retry doubles it. Default 100 ms. */
  baseDelayMs?: number
  /** No backoff is longer; a 503 whose Retry-After asks for longer is surfaced, not waited for. Default 2000 ms. */
  maxDelayMs?: number
}

export interface RetryPolicy {
  attempts: number
  baseDelayMs: number
  maxDelayMs: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 3, baseDelayMs: 100, maxDelayMs: 2000 }

/**
 * The 409 code of a request whose Idempotency-Key is still being processed by an earlier attempt
 * (src/ledger/idempotency.errors.ts): retrying later gets the first attempt's answer.
 */
export const IDEMPOTENCY_KEY_IN_FLIGHT = 'idempotency_key_in_flight'

export function retryPolicyOf(options: RetryOptions | false | undefined): RetryPolicy {
  if (options === false) return { ...DEFAULT_RETRY_POLICY, attempts: 1 }
  const policy = { ...DEFAULT_RETRY_POLICY, ...options }
  if (!Number.isInteger(policy.attempts) || policy.attempts < 1) {
    throw new RangeError(`retry.attempts must be a whole number of at least 1, not ${policy.attempts}`)
  }
  if (!(policy.baseDelayMs >= 0) || !(policy.maxDelayMs >= policy.baseDelayMs)) {
    throw new RangeError('retry delays must satisfy 0 <= baseDelayMs <= maxDelayMs')
  }
  return policy
}

/**
 * Exponential backoff with "equal jitter": half the doubled delay is fixed and half random, so
 * retries of many clients spread out while each still waits long enough for an in-flight
 * attempt to finish.
 */
export function backoffDelayMs(
  policy: RetryPolicy,
  retryNumber: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retryNumber - 1))
  return ceiling / 2 + random() * (ceiling / 2)
}

/** Retry-After in milliseconds (delta-seconds or an HTTP date); null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | null {
  if (header === null) return null
  const trimmed = header.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? null : Math.max(0, at - now)
}

/**
 * Whether sending the request again cannot do its work twice: reads always; PUT and DELETE,
 * which set or remove a thing in Coffer's API; anything else only with an Idempotency-Key,
 * whose retry the server answers from the first attempt.
 */
export function isSafeToRetry(request: Request): boolean {
  switch (request.method.toUpperCase()) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'PUT':
    case 'DELETE':
      return true
    default:
      return request.headers.has(IDEMPOTENCY_KEY_HEADER)
  }
}

/** Waits `ms`, or rejects with the signal's reason as soon as the caller aborts. */
export function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
