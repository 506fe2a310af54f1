import { defineError } from '../errors.js'

export const InvalidPoints = defineError<{ reason: string }>({
  code: 'invalid_points',
  status: 422,
  title: 'Invalid points',
  detail: (p) => `points ${p.reason}`,
  members: ['reason'],
})

export const InsufficientPoints = defineError<{ available: string; requested: string }>({
  code: 'insufficient_points',
  status: 422,
  title: 'Insufficient points',
  detail: (p) => `${p.available} points are available; ${p.requested} requested`,
  members: ['available', 'requested'],
})

export const InvalidPointDates = defineError<{ reason: string }>({
  code: 'invalid_point_dates',
  status: 422,
  title: 'Invalid points dates',
  detail: (p) => p.reason,
  members: ['reason'],
})

export const PointsUserNotFound = defineError<{ userId: string }>({
  code: 'points_user_not_found',
  status: 404,
  title: 'User not found',
  detail: (p) => `No user ${p.userId}`,
  members: ['userId'],
})

export const PointsTransactionNotFound = defineError<{ transactionId: string }>({
  code: 'points_transaction_not_found',
  status: 404,
  title: 'Points transaction not found',
  detail: (p) => `No points transaction ${p.transactionId} that you can use`,
  members: ['transactionId'],
})

export const PointsNotReversible = defineError<{ transactionId: string; reason: string }>({
  code: 'points_not_reversible',
  status: 422,
  title: 'Points transaction cannot be reversed',
  detail: (p) => `Points transaction ${p.transactionId} cannot be reversed: ${p.reason}`,
  members: ['transactionId'],
})

export const PointsAlreadyReversed = defineError<{ transactionId: string }>({
  code: 'points_already_reversed',
  status: 409,
  title: 'Points transaction already reversed',
  detail: (p) => `Points transaction ${p.transactionId} has already been reversed`,
  members: ['transactionId'],
})

export const InvalidEarningRules = defineError<{ reason: string }>({
  code: 'invalid_earning_rules',
  status: 422,
  title: 'Invalid earning rules',
  detail: (p) => p.reason,
  members: ['reason'],
})

export const PointAssetNotAWallet = defineError<{ currency: string }>({
  code: 'point_asset_not_a_wallet',
  status: 422,
  title: 'Points have no wallet',
  detail: (p) =>
    `${p.currency} is the asset of a loyalty point program: its accounts are under /api/v1/points, not /wallets`,
  members: ['currency'],
})

export const PointsUserRequired = defineError({
  code: 'points_user_required',
  status: 422,
  title: 'User required',
  detail: 'Name the user (userId): this caller has no points account of its own',
})
