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

export const BatchPartlyRecorded = defineError<{ recorded: string[] }>({
  code: 'batch_partly_recorded',
  status: 422,
  title: 'Some keys of this atomic batch already have answers',
  detail: (p) =>
    `An atomic batch is applied whole or not at all, but ${p.recorded.length} of its idempotency keys (${p.recorded.slice(0, 5).join(', ')}${p.recorded.length > 5 ? ', …' : ''}) already have answers; send them with new keys, or the rest without them`,
  members: ['recorded'],
})
