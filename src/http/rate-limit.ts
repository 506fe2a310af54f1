import rateLimit from '@fastify/rate-limit'
import type { Redis } from 'ioredis'
import type { App } from './app-type.js'
import { RateLimited } from './http.errors.js'

/**
 * @fastify/rate-limit for any route that asks for it (`config.rateLimit`, or `app.createRateLimit`);
 * none is limited by default. Counters live in Redis when there is one, so every process shares
 * them; otherwise in memory.
 *
 * With Redis down the limits fail open (skipOnError): a request is let through uncounted rather
 * than refused, because these limits slow down guessing and abuse, and refusing everyone while
 * Redis is down would turn a cache outage into an API outage. The store answers within
 * REDIS_COMMAND_TIMEOUT_MS, so an outage adds at most that to a limited request.
 */
export async function registerRateLimits(app: App, redis: Redis | null): Promise<void> {
  await app.register(rateLimit, {
    global: false,
    skipOnError: true,
    ...(redis ? { redis, nameSpace: 'rate-limit:' } : {}),
    // Thrown by the plugin after it has set Retry-After; the problem handler renders it.
    errorResponseBuilder: (_request, context) =>
      new RateLimited({ retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)) }),
  })
}
