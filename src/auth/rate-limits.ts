import { normalizeIP } from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { App } from '../http/app-type.js'
import { RateLimited } from '../http/http.errors.js'
import { secretHash } from './secrets.js'

type Limiter = ReturnType<App['createRateLimit']>
type Hook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

export interface AuthRateLimits {
  /** onRequest: counts every attempt from an address, even one whose body is rejected. */
  perIp: Hook
  /** preHandler: after validation, so the body's email is known. */
  perEmail: Hook
}

/**
 * Limits on the credential endpoints, per IP and per email, each per route and minute. Built on
 * the plugin's createRateLimit (not its route config) because a route may have only one limit in
 * config, and these routes need two. Counters live in Redis when REDIS_URL is set.
 */
export function authRateLimits(app: App, perMinute: number): AuthRateLimits {
  const options = { max: perMinute, timeWindow: 60_000 }
  const byIp = app.createRateLimit({
    ...options,
    keyGenerator: (request) => `auth:${request.routeOptions.url}:ip:${normalizeIP(request.ip)}`,
  })
  const byEmail = app.createRateLimit({
    ...options,
    keyGenerator: (request) => `auth:${request.routeOptions.url}:email:${emailOf(request)}`,
  })
  return {
    perIp: (request, reply) => enforce(byIp, request, reply),
    perEmail: async (request, reply) => {
      if (emailOf(request) !== undefined) await enforce(byEmail, request, reply)
    },
  }
}

async function enforce(limiter: Limiter, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const result = await limiter(request)
  if (result.isAllowed || !result.isExceeded) return
  const retryAfterSeconds = Math.max(1, result.ttlInSeconds)
  reply.header('retry-after', retryAfterSeconds)
  throw new RateLimited({ retryAfterSeconds })
}

/** The normalised email, hashed so Redis key names carry no addresses. */
function emailOf(request: FastifyRequest): string | undefined {
  const body = request.body as { email?: unknown } | undefined
  return typeof body?.email === 'string' ? secretHash(body.email.trim().toLowerCase()) : undefined
}
