import type { Middleware } from 'openapi-fetch'
import type { IdempotentOperation } from './api-types.js'

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key'
export const IDEMPOTENCY_REPLAYED_HEADER = 'Idempotency-Replayed'

/**
 * The operations whose OpenAPI declares the Idempotency-Key header. Typed as a record of
 * `IdempotentOperation` (derived from the generated `paths`), so adding or dropping the header
 * on a route makes this file fail to compile until the list follows: `npm run lint` regenerates
 * the types, and tsc then keeps this list in step with the API.
 */
const OPERATIONS_REQUIRING_A_KEY: Record<IdempotentOperation, true> = {
  'POST /api/v1/wallets/{id}/deposits': true,
  'POST /api/v1/wallets/{id}/withdrawals': true,
  'POST /api/v1/transfers': true,
  'POST /api/v1/purchases': true,
  'POST /api/v1/holds': true,
  'POST /api/v1/holds/{id}/capture': true,
  'POST /api/v1/holds/{id}/void': true,
  'POST /api/v1/transactions/{id}/reversal': true,
  'POST /api/v1/points/earn': true,
  'POST /api/v1/points/spend': true,
  'POST /api/v1/points/adjust': true,
  'POST /api/v1/points/transactions/{id}/reverse': true,
  'POST /api/v1/exchanges': true,
  'POST /api/v1/operations': true,
}

export function requiresIdempotencyKey(method: string, schemaPath: string): boolean {
  return Object.hasOwn(OPERATIONS_REQUIRING_A_KEY, `${method.toUpperCase()} ${schemaPath}`)
}

/** A fresh key for one logical operation; UUIDs are within the API's 1..255 visible ASCII characters. */
export function newIdempotencyKey(): string {
  // Browsers offer randomUUID only in secure contexts (https, localhost); a console opened over
  // plain http on a LAN address still has getRandomValues.
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  bytes[6] = (bytes[6]! & 0x0f) | 0x40
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * Gives every call of an operation that needs an Idempotency-Key one key of its own, unless the
 * caller pinned one. It runs once per logical call, above the transport that retries, so every
 * retry of the call resends the same key and the server answers it from the first attempt.
 */
export const idempotencyKeyMiddleware: Middleware = {
  onRequest({ request, schemaPath }) {
    if (request.headers.has(IDEMPOTENCY_KEY_HEADER)) return undefined
    if (!requiresIdempotencyKey(request.method, schemaPath)) return undefined
    request.headers.set(IDEMPOTENCY_KEY_HEADER, newIdempotencyKey())
    return request
  },
}
