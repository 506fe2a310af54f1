import { defineError } from '../errors.js'

export const OperationNotFound = defineError<{ operationId: string }>({
  code: 'operation_not_found',
  status: 404,
  title: 'Operation not found',
  detail: (p) => `No operation ${p.operationId} that you can see`,
  members: ['operationId'],
})

export const CommandDispatchFailed = defineError<{ operationId: string }>({
  code: 'command_dispatch_failed',
  status: 503,
  title: 'Operation recorded but not yet dispatched',
  detail: (p) =>
    `Operation ${p.operationId} is recorded but its command could not be sent; retry with the same Idempotency-Key`,
  members: ['operationId'],
})
