import { defineError } from '../errors.js'

export const DuplicateBatchKeys = defineError<{ keys: string[] }>({
  code: 'duplicate_batch_keys',
  status: 422,
  title: 'Idempotency keys repeated in a batch',
  detail: (p) =>
    `Each movement of a batch needs its own idempotency key; repeated: ${p.keys.slice(0, 5).join(', ')}`,
  members: ['keys'],
})

export const AtomicBatchRefused = defineError<{
  index: number
  key: string
  code: string
  detail: string
  items: unknown[]
}>({
  code: 'atomic_batch_refused',
  status: 422,
  title: 'Atomic batch refused',
  detail: (p) => `Nothing was applied: item ${p.index} (${p.key}) was refused, ${p.code}: ${p.detail}`,
  members: ['index', 'items'],
  extensions: (p) => ({ index: p.index, items: p.items }),
})

export const BatchItemNotApplied = defineError<{ index: number }>({
  code: 'batch_item_not_applied',
  status: 424,
  title: 'Not applied',
  detail: (p) => `Not applied: the atomic batch was refused at item ${p.index}`,
})
