import { type Static, Type } from 'typebox'
import { StringEnum, TextEnum } from '../http/enum.schemas.js'
import { FreeText, INPUT_LIMITS, ListLimit, SingleLineText } from '../http/input.schemas.js'

const Uuid = Type.String({ format: 'uuid' })
const Timestamp = Type.String({ format: 'date-time' })
const NullableTimestamp = Type.Union([Timestamp, Type.Null()])
const NullableString = Type.Union([Type.String(), Type.Null()])

/** Points in and out are decimal strings of whole numbers, like the amounts of a 0-decimal asset. */
const PointsInput = Type.String({
  maxLength: INPUT_LIMITS.amountLength,
  description: 'A positive whole number of points as a decimal string, at most 10^15, e.g. "100"',
  examples: ['100'],
})
const SignedPointsInput = Type.String({
  maxLength: INPUT_LIMITS.amountLength,
  description: 'A non-zero whole number of points, negative to take points away, e.g. "-20"',
  examples: ['50', '-20'],
})
const Points = Type.String({ description: 'Whole points as a decimal string', examples: ['100'] })
const SignedPoints = Type.String({ description: 'Signed whole points', examples: ['-20'] })

const Source = SingleLineText({
  minLength: 1,
  maxLength: 100,
  description: 'Where the points come from or go, e.g. "purchase" or "reward-shop"',
})
const Description = FreeText({ maxLength: 500, description: 'Shown in the points history' })
const Reference = SingleLineText({ maxLength: 200, description: 'Your own reference, e.g. an order id' })

export const EarnBody = Type.Object(
  {
    userId: Uuid,
    points: PointsInput,
    source: Source,
    description: Type.Optional(Description),
    reference: Type.Optional(Reference),
    expiresAt: Type.Optional({
      ...Timestamp,
      description: 'When the unspent points of this lot lapse; never if absent',
    }),
    pendingUntil: Type.Optional({
      ...Timestamp,
      description: 'Pending (not spendable) until then; available at once if absent',
    }),
  },
  { $id: 'EarnPointsRequest', additionalProperties: false },
)
export type EarnInput = Static<typeof EarnBody>

export const SpendBody = Type.Object(
  {
    userId: Type.Optional({
      ...Uuid,
      description: 'Services and admins: whose points; a user spends their own',
    }),
    points: PointsInput,
    source: Source,
    description: Type.Optional(Description),
    reference: Type.Optional(Reference),
  },
  { $id: 'SpendPointsRequest', additionalProperties: false },
)
export type SpendInput = Static<typeof SpendBody>

export const AdjustBody = Type.Object(
  {
    userId: Uuid,
    points: SignedPointsInput,
    reason: FreeText({ minLength: 1, maxLength: 500, description: 'Why; kept with the transaction' }),
    expiresAt: Type.Optional({
      ...Timestamp,
      description: 'A positive adjustment only: when its lot lapses',
    }),
  },
  { $id: 'AdjustPointsRequest', additionalProperties: false },
)
export type AdjustInput = Static<typeof AdjustBody>

export const ReverseBody = Type.Object(
  { reason: FreeText({ minLength: 1, maxLength: 500, description: 'Why, e.g. "order 1182 cancelled"' }) },
  { $id: 'ReversePointsRequest', additionalProperties: false },
)
export type ReverseInput = Static<typeof ReverseBody>

export const PointsTransactionParams = Type.Object({
  id: { ...Uuid, description: 'The points transaction id' },
})

export const AccountQuery = Type.Object(
  { userId: Type.Optional({ ...Uuid, description: 'Admins and services: whose account' }) },
  { additionalProperties: false },
)

export const POINTS_TRANSACTION_TYPES = [
  'points_earn',
  'points_available',
  'points_spend',
  'points_adjust',
  'points_expire',
  'points_reversal',
] as const

/** Text enum: history rows carry the type as the text the ledger wrote. */
export const PointsTransactionType = TextEnum(POINTS_TRANSACTION_TYPES, {
  $id: 'PointsTransactionType',
  description: 'points_available: pending points became spendable; points_expire: a lot lapsed',
})

export const HistoryQuery = Type.Object(
  {
    userId: Type.Optional({ ...Uuid, description: 'Admins and services: whose history' }),
    limit: Type.Optional(ListLimit),
    cursor: Type.Optional(SingleLineText({ maxLength: 200, description: 'nextCursor of the previous page' })),
    type: Type.Optional(PointsTransactionType),
  },
  { additionalProperties: false },
)
export type HistoryQueryInput = Static<typeof HistoryQuery>

export const LotsQuery = Type.Object(
  {
    userId: Type.Optional({ ...Uuid, description: 'Admins and services: whose lots' }),
    limit: Type.Optional(ListLimit),
  },
  { additionalProperties: false },
)
export type LotsQueryInput = Static<typeof LotsQuery>

export const PointAccount = Type.Object(
  {
    userId: Uuid,
    program: Type.String(),
    asset: Type.String(),
    accountId: Type.Union([Uuid, Type.Null()], { description: 'Null until the first points arrive' }),
    total: Points,
    available: Points,
    pending: Points,
    expiringSoon: Type.Object({
      points: Points,
      nextExpiryAt: NullableTimestamp,
      withinDays: Type.Integer(),
    }),
  },
  { $id: 'PointsAccount', description: 'total = available + pending' },
)
export type PointAccountView = Static<typeof PointAccount>

const Figures = {
  total: Points,
  available: Points,
  pending: Points,
}

export const Lot = Type.Object(
  {
    id: Uuid,
    points: Points,
    remaining: Points,
    status: StringEnum(['pending', 'available', 'expired', 'reversed'], {
      $id: 'PointsLotStatus',
      description: 'pending until availableAt; expired and reversed lots have no points left to spend',
    }),
    availableAt: Timestamp,
    expiresAt: NullableTimestamp,
    source: Type.String(),
    reference: NullableString,
    earnTransactionId: Uuid,
    createdAt: Timestamp,
  },
  { $id: 'PointsLot', description: 'Points earned together, spent and lapsing together' },
)
export type LotView = Static<typeof Lot>
export const LotList = Type.Object({ items: Type.Array(Lot) }, { $id: 'PointsLotList' })

export const EarnOutcome = Type.Object(
  {
    transactionId: Uuid,
    userId: Uuid,
    points: Points,
    lot: Lot,
    ...Figures,
    createdAt: Timestamp,
  },
  { $id: 'PointsEarned', description: 'The new lot, and the account figures after it' },
)
export type EarnView = Static<typeof EarnOutcome>

const DrawView = Type.Object(
  { lotId: Uuid, points: Points, expiresAt: NullableTimestamp },
  { $id: 'PointsDraw', description: 'Points taken from one lot' },
)

export const SpendOutcome = Type.Object(
  {
    transactionId: Uuid,
    userId: Uuid,
    points: Points,
    draws: Type.Array(DrawView),
    ...Figures,
    createdAt: Timestamp,
  },
  { $id: 'PointsSpent' },
)
export type SpendView = Static<typeof SpendOutcome>

export const AdjustOutcome = Type.Object(
  {
    transactionId: Uuid,
    userId: Uuid,
    points: SignedPoints,
    lot: Type.Union([Lot, Type.Null()], { description: 'The new lot of a positive adjustment' }),
    draws: Type.Array(DrawView, { description: 'Where a negative adjustment took its points from' }),
    ...Figures,
    createdAt: Timestamp,
  },
  { $id: 'PointsAdjusted' },
)
export type AdjustView = Static<typeof AdjustOutcome>

export const ReversalOutcome = Type.Object(
  {
    reversedTransactionId: Uuid,
    reversalTransactionId: Type.Union([Uuid, Type.Null()], { description: 'Null when no points moved' }),
    userId: Uuid,
    kind: StringEnum(['returned', 'clawed_back'], {
      description: 'returned: a spend reversed; clawed_back: an earn reversed',
    }),
    points: Type.String({ description: 'Points returned to their lots, or clawed back from the lot' }),
    lots: Type.Array(
      Type.Object({
        lotId: Uuid,
        points: Points,
        outcome: TextEnum(['returned', 'forfeited', 'clawed_back'], {
          description: 'returned; forfeited (the lot had expired or was reversed); clawed_back',
        }),
        expiresAt: NullableTimestamp,
      }),
    ),
    shortfall: Type.String({
      description: 'Points of a reversed earn already spent or expired, not clawed back',
    }),
    ...Figures,
    createdAt: Timestamp,
  },
  { $id: 'PointsReversal' },
)
export type ReversalView = Static<typeof ReversalOutcome>

export const HistoryItem = Type.Object(
  {
    transactionId: Type.Union([Uuid, Type.Null()]),
    type: PointsTransactionType,
    points: SignedPoints,
    availableChange: SignedPoints,
    pointsAfter: Type.String({ description: 'The total after this change' }),
    pendingAfter: Points,
    availableAfter: Points,
    lotId: Type.Union([Uuid, Type.Null()]),
    expiresAt: NullableTimestamp,
    source: NullableString,
    reference: NullableString,
    description: NullableString,
    createdAt: Timestamp,
  },
  { $id: 'PointsHistoryItem' },
)
export const HistoryPage = Type.Object(
  {
    items: Type.Array(HistoryItem),
    nextCursor: Type.Union([Type.String(), Type.Null()], {
      description: 'Pass as cursor for the next page; null on the last page',
    }),
  },
  { $id: 'PointsHistoryPage' },
)
export type HistoryPageView = Static<typeof HistoryPage>

const RuleFields = {
  currency: Type.String({ maxLength: 32, description: 'Purchases in this currency earn', examples: ['USD'] }),
  pointsPerUnit: Type.String({
    maxLength: INPUT_LIMITS.amountLength,
    description: 'Points per 1 major unit of the currency (per 1.00 USD), a whole number; rounded down',
    examples: ['1'],
  }),
  merchant: Type.Optional(
    Type.Union([SingleLineText({ minLength: 1, maxLength: 100 }), Type.Null()], {
      description: 'Only purchases at this merchant; null or absent for every merchant',
    }),
  ),
  pendingDays: Type.Integer({
    minimum: 0,
    maximum: 3650,
    description: 'Days the points stay pending (the return window)',
  }),
  expiryDays: Type.Optional(
    Type.Union([Type.Integer({ minimum: 1, maximum: 36500 }), Type.Null()], {
      description: 'Days after the purchase the points lapse; never if null or absent',
    }),
  ),
}

export const RuleInput = Type.Object(RuleFields, { additionalProperties: false })
export const RulesBody = Type.Object(
  { rules: Type.Array(RuleInput, { maxItems: 100 }) },
  { $id: 'EarningRulesRequest', additionalProperties: false },
)
export type RulesInput = Static<typeof RulesBody>
export const Rules = Type.Object(
  {
    rules: Type.Array(
      Type.Object({
        currency: Type.String(),
        pointsPerUnit: Type.String(),
        merchant: NullableString,
        pendingDays: Type.Integer(),
        expiryDays: Type.Union([Type.Integer(), Type.Null()]),
      }),
    ),
  },
  { $id: 'EarningRules' },
)
export type RulesView = Static<typeof Rules>
