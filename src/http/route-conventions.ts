import { Type } from 'typebox'
import { problemResponses } from './problem.schemas.js'

/** What every authenticated route declares for OpenAPI. */
export const security = [{ bearer: [] }]

/** Any signed-in user, admin or service. */
export const anyone = ['user', 'admin', 'service'] as const

/** Admins only. */
export const adminOnly = ['admin'] as const

/** Declared on every money-moving POST; replyIdempotently requires it (400 without). */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      description:
        'Required: a unique key per operation; a retry with the same key is answered from the first',
    }),
  ),
})

/** The problem statuses a money-moving POST can answer. */
export const movementErrors = problemResponses(400, 401, 403, 404, 409, 422)
