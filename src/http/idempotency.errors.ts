import { defineError } from '../errors.js'

export const IdempotencyKeyRequired = defineError({
  code: 'idempotency_key_required',
  status: 400,
  title: 'Idempotency-Key header required',
  detail: 'Money-moving requests need an Idempotency-Key header of 1 to 255 visible ASCII characters',
})

export const IdempotencyKeyReused = defineError({
  code: 'idempotency_key_reused',
  status: 422,
  title: 'Idempotency-Key reused with a different request',
  detail: 'This Idempotency-Key was used for a different request; use a new key for a new request',
})

export const IdempotencyKeyInFlight = defineError({
  code: 'idempotency_key_in_flight',
  status: 409,
  title: 'A request with this Idempotency-Key is still running',
  detail: 'A request with this Idempotency-Key is still being processed; retry after it completes',
})
