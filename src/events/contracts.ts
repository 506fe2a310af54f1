import { type Static, type TSchema, Type } from 'typebox'
import { Value } from 'typebox/value'
import type { EventEnvelope } from './bus.js'

/**
 * The contract of every event Coffer publishes: its payload schema and version. The schemas are
 * written here rather than taken from the HTTP schemas on purpose: a change to an API response
 * must not change what consumers of `coffer.events` receive without a new version.
 * `/asyncapi.json` and docs/events.md are built from and checked against this list.
 */

const Uuid = Type.String({ format: 'uuid' })
const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339, UTC' })
const Amount = Type.String({
  pattern: '^\\d+(\\.\\d+)?$',
  description: 'Decimal string in the major unit of the currency, e.g. "10.50"',
  examples: ['10.50'],
})
const SignedAmount = Type.String({
  pattern: '^-?\\d+(\\.\\d+)?$',
  description: 'Signed decimal string in the major unit',
  examples: ['-3.20'],
})
const Currency = Type.String({ minLength: 1, maxLength: 32, examples: ['USD'] })
const NullableString = Type.Union([Type.String(), Type.Null()])

const Wallet = Type.Object(
  {
    id: Uuid,
    userId: Uuid,
    currency: Currency,
    balance: SignedAmount,
    available: SignedAmount,
    pending: Amount,
    status: Type.Union([Type.Literal('active'), Type.Literal('frozen'), Type.Literal('closed')]),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { description: 'The wallet after the change' },
)

const Entry = Type.Object({
  walletId: Type.Optional(Uuid),
  account: Type.Optional(
    Type.String({ description: 'System account name, e.g. world, fx or merchant:shop-1' }),
  ),
  currency: Currency,
  amount: SignedAmount,
  balanceAfter: Type.Union([SignedAmount, Type.Null()], {
    description: 'Balance of the wallet after this entry; null on system accounts',
  }),
})

const Transaction = Type.Object(
  {
    id: Uuid,
    type: Type.String({ examples: ['deposit', 'transfer', 'capture', 'reversal', 'exchange'] }),
    status: Type.String(),
    amount: Amount,
    currency: Currency,
    entries: Type.Array(Entry, { minItems: 2 }),
    reference: NullableString,
    description: NullableString,
    metadata: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
    reversesId: Type.Union([Uuid, Type.Null()]),
    flags: Type.Array(Type.String()),
    createdAt: Timestamp,
  },
  { description: 'The posted transaction with every entry and every wallet balance after it' },
)

const HoldReleased = Type.Object({
  holdId: Uuid,
  walletId: Uuid,
  currency: Currency,
  released: Amount,
  transactionId: Uuid,
})

/** As the API's problem+json (RFC 9457), without request id or URL; more members may follow. */
const Problem = Type.Object({
  code: Type.String({ examples: ['insufficient_funds'] }),
  type: Type.Optional(Type.String({ description: 'The problem type URI' })),
  title: Type.Optional(Type.String()),
  detail: Type.Optional(Type.String()),
  status: Type.Optional(Type.Integer()),
})

/** A webhook subscription after the change; never its secret. */
const WebhookSubscription = Type.Object({
  id: Uuid,
  ownerId: Type.String({ description: 'The API key (service) or user (admin) that created it' }),
  url: Type.String(),
  eventTypes: Type.Array(Type.String(), { description: 'Types or topic patterns; empty = every type' }),
  walletId: Type.Union([Uuid, Type.Null()]),
  userId: Type.Union([Uuid, Type.Null()]),
  description: NullableString,
  status: Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]),
  consecutiveFailures: Type.Integer({ minimum: 0 }),
  disabledReason: NullableString,
  createdAt: Timestamp,
  updatedAt: Timestamp,
})

const Points = Type.String({
  pattern: '^-?\\d+$',
  description: 'Whole points, signed where it is a change',
  examples: ['100'],
})
const NullableTimestamp = Type.Union([Timestamp, Type.Null()])

/** What every points event carries: whose account, and its figures after the change. */
function pointsEvent(fields: Record<string, TSchema>) {
  return Type.Object({
    userId: Uuid,
    accountId: Uuid,
    program: Type.String({ examples: ['default'] }),
    transactionId: Type.Union([Uuid, Type.Null()], {
      description: 'The ledger transaction; null if no points moved',
    }),
    ...fields,
    total: Points,
    available: Points,
    pending: Points,
    createdAt: Timestamp,
  })
}

const PointLots = Type.Array(
  Type.Object({ lotId: Uuid, points: Points, expiresAt: Type.Optional(NullableTimestamp) }),
)
const PointDraws = Type.Array(Type.Object({ lotId: Uuid, points: Points, expiresAt: NullableTimestamp }))
const PointLotEarned = {
  points: Points,
  lotId: Uuid,
  lotStatus: Type.Union([Type.Literal('pending'), Type.Literal('available')]),
  source: Type.String(),
  reference: NullableString,
  availableAt: Timestamp,
  expiresAt: NullableTimestamp,
}

interface Contract {
  version: number
  aggregate:
    | 'wallet'
    | 'transaction'
    | 'hold'
    | 'operation'
    | 'webhook'
    | 'points'
    | 'api_key'
    | 'session'
    | 'access_token'
  summary: string
  data: TSchema
}

export const EVENT_CONTRACTS = {
  'transaction.posted': {
    version: 1,
    aggregate: 'transaction',
    summary:
      'A transaction was posted (deposit, withdrawal, transfer, purchase, capture, reversal, exchange)',
    data: Transaction,
  },
  'transaction.reversed': {
    version: 1,
    aggregate: 'transaction',
    summary: 'A transaction was reversed, in full or in part (the aggregate is the original)',
    data: Type.Object({
      transactionId: Uuid,
      reversalId: Uuid,
      amount: Amount,
      currency: Currency,
      reason: Type.String(),
      forced: Type.Boolean(),
    }),
  },
  'purchase.completed': {
    version: 1,
    aggregate: 'transaction',
    summary: 'A purchase from a merchant was paid',
    data: Type.Object({
      transactionId: Uuid,
      walletId: Uuid,
      merchant: Type.String(),
      orderId: NullableString,
      amount: Amount,
      currency: Currency,
    }),
  },
  'exchange.posted': {
    version: 1,
    aggregate: 'transaction',
    summary: 'Money was exchanged between two wallets of one user in different currencies',
    data: Type.Object({
      transactionId: Uuid,
      userId: Uuid,
      fromWalletId: Uuid,
      toWalletId: Uuid,
      rate: Type.String({ description: 'Exact decimal rate, to per from', examples: ['0.9215'] }),
      fromCurrency: Currency,
      toCurrency: Currency,
      debited: Amount,
      credited: Amount,
      quoteId: Type.Union([Uuid, Type.Null()]),
    }),
  },
  'wallet.created': { version: 1, aggregate: 'wallet', summary: 'A wallet was opened', data: Wallet },
  'wallet.frozen': { version: 1, aggregate: 'wallet', summary: 'A wallet was frozen', data: Wallet },
  'wallet.unfrozen': {
    version: 1,
    aggregate: 'wallet',
    summary: 'A frozen wallet was unfrozen',
    data: Wallet,
  },
  'wallet.closed': { version: 1, aggregate: 'wallet', summary: 'A wallet was closed', data: Wallet },
  'hold.created': {
    version: 1,
    aggregate: 'hold',
    summary: 'Money was reserved on a wallet (two-phase payment, first phase)',
    data: Type.Object({
      holdId: Uuid,
      walletId: Uuid,
      amount: Amount,
      currency: Currency,
      merchant: NullableString,
      expiresAt: Type.Union([Timestamp, Type.Null()]),
      transactionId: Uuid,
    }),
  },
  'hold.captured': {
    version: 1,
    aggregate: 'hold',
    summary: 'A hold was captured, in full or in part; the rest was released',
    data: Type.Object({
      holdId: Uuid,
      walletId: Uuid,
      merchant: Type.String(),
      captured: Amount,
      released: Amount,
      currency: Currency,
      transactionId: Uuid,
    }),
  },
  'hold.voided': {
    version: 1,
    aggregate: 'hold',
    summary: 'A hold was cancelled',
    data: HoldReleased,
  },
  'hold.expired': {
    version: 1,
    aggregate: 'hold',
    summary: 'A hold ran out and was released',
    data: HoldReleased,
  },
  'operation.succeeded': {
    version: 1,
    aggregate: 'operation',
    summary: 'An asynchronous operation or a command was applied',
    data: Type.Object({
      operationId: Type.String({ minLength: 1 }),
      type: Type.String({ examples: ['deposit', 'withdrawal', 'transfer', 'points_earn'] }),
      status: Type.Literal('succeeded'),
      transactionId: Uuid,
    }),
  },
  'operation.failed': {
    version: 1,
    aggregate: 'operation',
    summary: 'An asynchronous operation or a command was refused; nothing moved',
    data: Type.Object({
      operationId: Type.String({ minLength: 1 }),
      type: Type.String({ examples: ['deposit', 'withdrawal', 'transfer', 'points_earn'] }),
      status: Type.Literal('failed'),
      problem: Problem,
    }),
  },
  'webhook.created': {
    version: 1,
    aggregate: 'webhook',
    summary: 'A webhook subscription was created',
    data: WebhookSubscription,
  },
  'webhook.updated': {
    version: 1,
    aggregate: 'webhook',
    summary: 'A webhook subscription was changed (URL, filters, enabled, secret rotated)',
    data: WebhookSubscription,
  },
  'webhook.deleted': {
    version: 1,
    aggregate: 'webhook',
    summary: 'A webhook subscription was deleted; its pending deliveries were cancelled',
    data: WebhookSubscription,
  },
  'webhook.disabled': {
    version: 1,
    aggregate: 'webhook',
    summary:
      'A webhook subscription was disabled after consecutiveFailures failed deliveries; disabledReason says why',
    data: WebhookSubscription,
  },
  'points.earned': {
    version: 1,
    aggregate: 'points',
    summary: 'Points were earned: a new lot, pending until availableAt or available at once',
    data: pointsEvent(PointLotEarned),
  },
  'points.available': {
    version: 1,
    aggregate: 'points',
    summary: 'Pending points became available',
    data: pointsEvent({ points: Points, lots: PointLots }),
  },
  'points.spent': {
    version: 1,
    aggregate: 'points',
    summary: 'Points were spent, drawn from the lots that lapse first',
    data: pointsEvent({
      points: Points,
      source: Type.String(),
      reference: NullableString,
      draws: PointDraws,
    }),
  },
  'points.expired': {
    version: 1,
    aggregate: 'points',
    summary: 'Lots lapsed: their remaining points were forfeited',
    data: pointsEvent({ points: Points, lots: PointLots }),
  },
  'points.adjusted': {
    version: 1,
    aggregate: 'points',
    summary: 'An admin added points (a lot, with lotId) or took them away (with draws)',
    data: pointsEvent({
      points: Points,
      source: Type.String(),
      reference: NullableString,
      lotId: Type.Optional(Uuid),
      lotStatus: Type.Optional(Type.String()),
      availableAt: Type.Optional(Timestamp),
      expiresAt: Type.Optional(NullableTimestamp),
      draws: Type.Optional(PointDraws),
    }),
  },
  'points.reversed': {
    version: 1,
    aggregate: 'points',
    summary: 'A points transaction was reversed: points returned to their lots, or a lot clawed back',
    data: pointsEvent({
      reversedTransactionId: Uuid,
      kind: Type.Union([Type.Literal('returned'), Type.Literal('clawed_back')]),
      points: Points,
      shortfall: Points,
      lots: Type.Array(
        Type.Object({ lotId: Uuid, points: Points, outcome: Type.String(), expiresAt: NullableTimestamp }),
      ),
    }),
  },
  'api_key.revoked': {
    version: 1,
    aggregate: 'api_key',
    summary: 'An API key was revoked: every API process forgets it at once (its principal cache)',
    data: Type.Object({ apiKeyId: Uuid, revokedAt: Timestamp }),
  },
  'session.revoked': {
    version: 1,
    aggregate: 'session',
    summary:
      'A session ended (sign-out, revoked by its user or an admin, refresh-token reuse): its access tokens are refused',
    data: Type.Object({
      sessionId: Uuid,
      userId: Uuid,
      reason: Type.String({ examples: ['sign_out', 'revoked_by_user', 'refresh_reuse'] }),
      tokenIds: Type.Array(Type.String(), { description: 'JWT ids of its access tokens still unexpired' }),
      revokedAt: Timestamp,
    }),
  },
  'access_token.revoked': {
    version: 1,
    aggregate: 'access_token',
    summary: 'An access token of an external issuer was signed out (it has no session in Coffer)',
    data: Type.Object({
      userId: Uuid,
      tokenIds: Type.Array(Type.String(), { minItems: 1 }),
      revokedAt: Timestamp,
    }),
  },
} satisfies Record<string, Contract>

export type EventType = keyof typeof EVENT_CONTRACTS
export const EVENT_TYPES = Object.keys(EVENT_CONTRACTS) as EventType[]

export type EventData<T extends EventType> = Static<(typeof EVENT_CONTRACTS)[T]['data']>

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENT_CONTRACTS, type)
}

/** The envelope of one event type, as published: the same for every type but `data`. */
export function envelopeSchema(type: EventType): TSchema {
  const contract: Contract = EVENT_CONTRACTS[type]
  return Type.Object(
    {
      id: { ...Uuid, description: 'The event id (the AMQP message_id): de-duplicate on it' },
      type: Type.Literal(type),
      version: Type.Literal(contract.version),
      occurredAt: { ...Timestamp, description: 'When the change committed' },
      aggregate: Type.Object({ type: Type.Literal(contract.aggregate), id: Type.String() }),
      data: contract.data,
    },
    { description: contract.summary },
  )
}

const envelopes = new Map(EVENT_TYPES.map((type) => [type, envelopeSchema(type)]))

/** The version an outbox row of this type is published with; 1 for a type with no contract yet. */
export function contractVersion(type: string): number {
  return isEventType(type) ? EVENT_CONTRACTS[type].version : 1
}

/** Why an envelope breaks its contract, one line per problem; empty when it keeps it. */
export function contractViolations(event: EventEnvelope): string[] {
  if (!isEventType(event.type)) return [`no contract for event type ${JSON.stringify(event.type)}`]
  const schema = envelopes.get(event.type)!
  return [...Value.Errors(schema, event)].map(
    (error) => `${event.type} ${error.instancePath || '/'}: ${error.message}`,
  )
}
