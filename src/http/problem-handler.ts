import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { isDatabaseUnavailable } from '../db/unavailable.js'
import { AppError, problemType } from '../errors.js'
import type { App } from './app-type.js'
import {
  DatabaseUnavailable,
  InternalError,
  MalformedBody,
  PayloadTooLarge,
  RateLimited,
  RouteNotFound,
  UnsupportedMediaType,
} from './http.errors.js'
import { validationProblem } from './input-checks.js'
import { moneyProblem } from './money.errors.js'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8'

export function problemBody(error: AppError, request: FastifyRequest): Record<string, unknown> {
  return {
    ...error.extensions,
    type: problemType(error.code),
    title: error.definition.title,
    status: error.status,
    detail: error.detail,
    code: error.code,
    requestId: request.id,
    instance: request.url,
  }
}

export function sendProblem(reply: FastifyReply, error: AppError): FastifyReply {
  const body = problemBody(error, reply.request)
  // A problem that tells when to retry says it in the header too, which is what HTTP clients and
  // proxies read (a rate limiter may have set it already).
  const { retryAfter } = error.extensions
  if (typeof retryAfter === 'number' && !reply.hasHeader('retry-after')) {
    reply.header('retry-after', retryAfter)
  }
  // A pre-serialised string bypasses the route's response schema, which would drop extensions.
  return reply.status(error.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body))
}

/** Translates what Fastify and its plugins throw into catalogue errors. */
export function toAppError(error: unknown, request: FastifyRequest): AppError {
  if (error instanceof AppError) return error
  if (isDatabaseUnavailable(error)) return new DatabaseUnavailable()
  const money = moneyProblem(error)
  if (money) return money
  const fastifyError = error as Partial<FastifyError> & { validation?: unknown[] }
  if (fastifyError.validation) {
    return validationProblem(
      fastifyError.validation as Parameters<typeof validationProblem>[0],
      fastifyError.message ?? 'invalid request',
    )
  }
  const code = fastifyError.code ?? ''
  const status = fastifyError.statusCode ?? 500
  if (status === 413 || code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new PayloadTooLarge()
  if (status === 415 || code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new UnsupportedMediaType({ contentType: String(request.headers['content-type'] ?? 'none') })
  }
  if (status === 429) {
    const retryAfter = Number(fastifyError.message?.match(/(\d+)/)?.[1] ?? 60)
    return new RateLimited({ retryAfterSeconds: retryAfter })
  }
  if (status === 400 && (code.startsWith('FST_ERR_CTP') || error instanceof SyntaxError)) {
    return new MalformedBody({ detail: fastifyError.message ?? 'malformed body' })
  }
  if (status >= 400 && status < 500)
    return new MalformedBody({ detail: fastifyError.message ?? 'bad request' })
  return new InternalError()
}

/** Every error, 404 included, leaves as problem+json; a 5xx never shows its cause. */
export function registerProblemHandlers(app: App): void {
  app.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error, request)
    if (appError.code === DatabaseUnavailable.definition.code) {
      // An outage fails every request at once: one short line each, not a stack each.
      request.log.warn({ reason: (error as Error).message }, 'request failed: database unavailable')
    } else if (appError.status >= 500) {
      request.log.error({ err: error }, 'request failed')
    } else if (!(error instanceof AppError)) {
      request.log.info({ code: appError.code, reason: (error as Error).message }, 'request rejected')
    }
    return sendProblem(reply, appError)
  })
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new RouteNotFound({ method: request.method, url: request.url.split('?')[0] ?? '' })),
  )
}
