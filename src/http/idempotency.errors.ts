import { defineError } from '../errors.js'

export const IdempotencyKeyRequired = defineError({
  code: 'idempotency_key_required',
  status: 400,
  title: 'Idempotency-Key header required',
  detail: 'Money-moving requests need an Idempotency-Key header of 1 to 255 visible ASCII characters',
})
