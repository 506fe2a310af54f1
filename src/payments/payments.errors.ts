import { defineError } from '../errors.js'

export const HoldNotFound = defineError<{ holdId: string }>({
  code: 'hold_not_found',
  status: 404,
  title: 'Hold not found',
  detail: (p) => `No hold ${p.holdId} that you can use`,
  members: ['holdId'],
})

export const HoldNotPending = defineError<{ holdId: string; status: string }>({
  code: 'hold_not_pending',
  status: 409,
  title: 'Hold is no longer pending',
  detail: (p) => `Hold ${p.holdId} is ${p.status}; only a pending hold can be captured or voided`,
  members: ['holdId', 'holdStatus'],
  extensions: (p) => ({ holdId: p.holdId, holdStatus: p.status }),
})

export const CaptureExceedsHold = defineError<{ holdId: string; held: string; requested: string }>({
  code: 'capture_exceeds_hold',
  status: 422,
  title: 'Capture exceeds the hold',
  detail: (p) => `Hold ${p.holdId} reserves ${p.held}; ${p.requested} cannot be captured`,
  members: ['holdId', 'held', 'requested'],
})

export const MerchantRequired = defineError({
  code: 'merchant_required',
  status: 422,
  title: 'Merchant required',
  detail: 'Name the merchant on the hold or on its capture',
})

export const InvalidExpiry = defineError({
  code: 'invalid_expiry',
  status: 422,
  title: 'Invalid expiry',
  detail: 'expiresAt must be in the future',
})

export const ReversalExceedsOriginal = defineError<{ transactionId: string; remaining: string }>({
  code: 'reversal_exceeds_original',
  status: 422,
  title: 'Reversal exceeds the original',
  detail: (p) => `Transaction ${p.transactionId} has ${p.remaining} left to reverse`,
  members: ['transactionId', 'remaining'],
})

export const NotReversible = defineError<{ transactionId: string; reason: string }>({
  code: 'not_reversible',
  status: 422,
  title: 'Transaction cannot be reversed',
  detail: (p) => `Transaction ${p.transactionId} cannot be reversed: ${p.reason}`,
  members: ['transactionId'],
})

export const ForceRequiresAdmin = defineError({
  code: 'force_requires_admin',
  status: 403,
  title: 'Only an admin may force a reversal',
  detail: 'force: true may drive a wallet negative; only an admin may ask for it',
})
