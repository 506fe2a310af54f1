import {
  backoffDelayMs,
  IDEMPOTENCY_KEY_IN_FLIGHT,
  isSafeToRetry,
  type RetryPolicy,
  retryAfterMs,
  sleep,
} from './retry-policy.js'
import type { Credentials } from './token-session.js'

/** The fetch the client sends through: the platform's, or the caller's (a test's fault injector, a proxy). */
export type Fetch = (request: Request) => Promise<Response>

export interface TransportOptions {
  fetch: Fetch
  retry: RetryPolicy
  credentials: Credentials
  random?: () => number
}

/**
 * The fetch openapi-fetch is given: it authorises each attempt with the current bearer, renews
 * an expired access token once, and retries what is safe to retry. It sits below openapi-fetch's
 * middleware because only here can one call become several sends: each attempt is a clone of the
 * untouched original, so the body can be sent again, headers (the Idempotency-Key) included.
 */
export function createTransport(options: TransportOptions): Fetch {
  const { retry, credentials } = options
  const random = options.random ?? Math.random

  /** How long to wait before retrying this answer, or null to hand it to the caller. */
  async function retryDelayOf(response: Response, retryNumber: number): Promise<number | null> {
    const backoff = backoffDelayMs(retry, retryNumber, random)
    if (response.status === 503) {
      const asked = retryAfterMs(response.headers.get('retry-after'))
      if (asked === null) return backoff
      // Honour Retry-After: never sooner; and longer than the caller allows surfaces the 503.
      return asked > retry.maxDelayMs ? null : asked
    }
    if (response.status === 409 && (await isIdempotencyKeyInFlight(response))) return backoff
    return null
  }

  return async function send(original: Request): Promise<Response> {
    const retrySafe = isSafeToRetry(original)
    // A caller who sets Authorization on a call means that bearer, not the client's.
    const bearerOfCaller = original.headers.has('authorization')
    let sends = 0
    let renewed = false
    for (;;) {
      const attempt = original.clone()
      const bearer = bearerOfCaller ? null : credentials.bearer()
      if (bearer !== null) attempt.headers.set('authorization', `Bearer ${bearer}`)
      sends += 1
      const mayRetry = retrySafe && sends < retry.attempts
      let response: Response
      try {
        response = await options.fetch(attempt)
      } catch (error) {
        // An abort is the caller's decision, not a fault of the network.
        if (!mayRetry || original.signal.aborted) throw error
        await sleep(backoffDelayMs(retry, sends, random), original.signal)
        continue
      }
      // A 401 is answered before the request does anything, so any method may be sent again once.
      if (response.status === 401 && bearer !== null && credentials.renewAfterRejection && !renewed) {
        renewed = true
        const renewedBearer = await credentials.renewAfterRejection(bearer)
        if (renewedBearer === null) return response
        await discard(response)
        // The send after a renewal is the same try with a valid token: it spends no retry.
        sends -= 1
        continue
      }
      if (!mayRetry) return response
      const delay = await retryDelayOf(response, sends)
      if (delay === null) return response
      await discard(response)
      await sleep(delay, original.signal)
    }
  }
}

async function isIdempotencyKeyInFlight(response: Response): Promise<boolean> {
  if (!/json/i.test(response.headers.get('content-type') ?? '')) return false
  let body: unknown
  try {
    body = await response.clone().json()
  } catch {
    // A 409 whose body is not JSON is not the in-flight problem; the caller gets it as it came.
    return false
  }
  return (
    typeof body === 'object' &&
    body !== null &&
    (body as Record<string, unknown>).code === IDEMPOTENCY_KEY_IN_FLIGHT
  )
}

/** Releases an answer that will not be read, so its connection can serve the retry. */
async function discard(response: Response): Promise<void> {
  if (response.body !== null && !response.bodyUsed) await response.body.cancel()
}
