import { defineError } from '../errors.js'

export const RouteNotFound = defineError<{ method: string; url: string }>({
  code: 'not_found',
  status: 404,
  title: 'Not found',
  detail: ({ method, url }) => `No route ${method} ${url}`,
})

export const InvalidRequest = defineError<{ detail: string; errors: unknown[] }>({
  code: 'invalid_request',
  status: 400,
  title: 'The request does not match its schema',
  detail: (p) => p.detail,
  members: ['errors'],
})

export const MalformedBody = defineError<{ detail: string }>({
  code: 'malformed_body',
  status: 400,
  title: 'The request body cannot be parsed',
  detail: (p) => p.detail,
})

export const PayloadTooLarge = defineError({
  code: 'payload_too_large',
  status: 413,
  title: 'The request body is too large',
  detail: 'The request body exceeds the size limit',
})

export const UnsupportedMediaType = defineError<{ contentType: string }>({
  code: 'unsupported_media_type',
  status: 415,
  title: 'Unsupported media type',
  detail: (p) => `Content-Type ${p.contentType} is not accepted; send application/json`,
})

export const RateLimited = defineError<{ retryAfterSeconds: number }>({
  code: 'rate_limited',
  status: 429,
  title: 'Too many requests',
  detail: (p) => `Too many requests; retry after ${p.retryAfterSeconds} s`,
  members: ['retryAfter'],
  extensions: (p) => ({ retryAfter: p.retryAfterSeconds }),
})

export const InternalError = defineError({
  code: 'internal_error',
  status: 500,
  title: 'Internal error',
  detail: 'An unexpected error occurred; quote the requestId when reporting it',
})

export const ServiceUnavailable = defineError<{ detail: string }>({
  code: 'service_unavailable',
  status: 503,
  title: 'Service unavailable',
  detail: (p) => p.detail,
})

/** What a client is told to wait after database_unavailable: a PostgreSQL restart takes about this. */
export const DATABASE_RETRY_AFTER_SECONDS = 2

/** Any request whose database work failed because the database cannot be reached; sent with Retry-After. */
export const DatabaseUnavailable = defineError({
  code: 'database_unavailable',
  status: 503,
  title: 'Database unavailable',
  detail: `The database is unavailable; retry after ${DATABASE_RETRY_AFTER_SECONDS} s`,
  members: ['retryAfter'],
  extensions: () => ({ retryAfter: DATABASE_RETRY_AFTER_SECONDS }),
})
