import { defineError } from '../errors.js'

// The answers of a key claim (src/ledger/group-commit.ts). The HTTP header's own error,
// idempotency_key_required, stays in src/http/idempotency.errors.ts.

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
