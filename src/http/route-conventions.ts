import { type TSchema, Type } from 'typebox'
import { problemResponses } from './problem.schemas.js'

/** What every authenticated route declares for OpenAPI; a public route declares `security: []`. */
export const security = [{ bearer: [] }]

/** Any signed-in user, admin or service. */
export const anyone = ['user', 'admin', 'service'] as const

/** Admins only. */
export const adminOnly = ['admin'] as const

/**
 * Declared on every money-moving POST. Optional here, so that a request without it reaches
 * replyIdempotently and gets the dedicated 400 idempotency_key_required rather than a generic
 * schema error; /openapi.json declares it required (src/http/openapi.ts).
 */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      description:
        'A unique key per logical operation (1 to 255 visible ASCII characters); a retry with the same key and body is answered from the first request, with Idempotency-Replayed: true',
    }),
  ),
})

/** What the description of every operation that takes an Idempotency-Key says about retrying it. */
export const IDEMPOTENT =
  'Requires an Idempotency-Key: a retry with the same key and body gets the first answer again (with Idempotency-Replayed: true), refusals included; the same key with another body is 422 idempotency_key_reused, and 409 idempotency_key_in_flight while the first request is still running.'

/** The problem statuses a money-moving POST can answer. */
export const movementErrors = problemResponses(400, 401, 403, 404, 409, 422)

/** Response headers a route declares, by the name HTTP writes them with. */
export type ResponseHeaders = Record<string, TSchema>

export const LocationHeader = (description: string): ResponseHeaders => ({
  Location: Type.String({ description }),
})

export const RetryAfterHeader = (description: string): ResponseHeaders => ({
  'Retry-After': Type.Integer({ minimum: 0, description }),
})

/** A JSON answer with what it means and the headers it carries, as /openapi.json describes it. */
export function jsonResponse<Schema extends TSchema>(
  schema: Schema,
  options: { description: string; headers?: ResponseHeaders },
) {
  return {
    description: options.description,
    ...(options.headers ? { headers: options.headers } : {}),
    content: { 'application/json': { schema } },
  }
}
