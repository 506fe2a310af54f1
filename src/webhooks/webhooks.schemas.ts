import { type Static, Type } from 'typebox'
import { StringEnum } from '../http/enum.schemas.js'
import { FreeText, ListLimit, SingleLineText } from '../http/input.schemas.js'
import { MAX_WEBHOOK_URL_LENGTH } from './destination-policy.js'

const Uuid = Type.String({ format: 'uuid' })
const Timestamp = Type.String({ format: 'date-time' })
const NullableTimestamp = Type.Union([Timestamp, Type.Null()])

/** Bounds of a subscription, stated once (docs/api.md, "Webhooks"). */
export const WEBHOOK_LIMITS = {
  urlLength: MAX_WEBHOOK_URL_LENGTH,
  eventTypes: 50,
  eventTypeLength: 100,
  descriptionLength: 500,
  /** 30 days. */
  maxGraceSeconds: 30 * 24 * 3600,
  /** Outbox events one range replay may go through. */
  replayEvents: 10_000,
} as const

const Url = SingleLineText({
  maxLength: WEBHOOK_LIMITS.urlLength,
  description: 'https URL (http://localhost or http://127.0.0.1 only with WEBHOOK_ALLOW_LOCALHOST)',
  examples: ['https://example.com/coffer-events'],
})
const EventTypes = Type.Array(
  SingleLineText({
    minLength: 1,
    maxLength: WEBHOOK_LIMITS.eventTypeLength,
    description: 'An event type or an AMQP topic pattern (`*` one word, `#` any)',
    examples: ['transaction.posted', 'wallet.*', '#'],
  }),
  {
    maxItems: WEBHOOK_LIMITS.eventTypes,
    description:
      'Event types or topic patterns, each matching at least one type; omitted or empty = every type',
  },
)
const Description = FreeText({ maxLength: WEBHOOK_LIMITS.descriptionLength })

export const CreateWebhookBody = Type.Object(
  {
    url: Url,
    eventTypes: Type.Optional(EventTypes),
    walletId: Type.Optional({ ...Uuid, description: 'Only events concerning this wallet' }),
    userId: Type.Optional({ ...Uuid, description: "Only events concerning this user's wallets" }),
    description: Type.Optional(Description),
  },
  { $id: 'CreateWebhookRequest', additionalProperties: false },
)
export type CreateWebhookInput = Static<typeof CreateWebhookBody>

export const UpdateWebhookBody = Type.Object(
  {
    url: Type.Optional(Url),
    eventTypes: Type.Optional(EventTypes),
    walletId: Type.Optional(Type.Union([Uuid, Type.Null()], { description: 'null clears the filter' })),
    userId: Type.Optional(Type.Union([Uuid, Type.Null()], { description: 'null clears the filter' })),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
    enabled: Type.Optional(
      Type.Boolean({
        description: 'true enables a disabled subscription again (its failure count restarts)',
      }),
    ),
  },
  { $id: 'UpdateWebhookRequest', additionalProperties: false },
)
export type UpdateWebhookInput = Static<typeof UpdateWebhookBody>

export const RotateSecretBody = Type.Object(
  {
    graceSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: WEBHOOK_LIMITS.maxGraceSeconds,
        description:
          'How long the previous secret still signs deliveries; default WEBHOOK_SECRET_GRACE_HOURS',
      }),
    ),
  },
  { $id: 'RotateWebhookSecretRequest', additionalProperties: false },
)

export const ReplayRangeBody = Type.Object(
  {
    from: { ...Timestamp, description: 'RFC 3339; events with occurredAt >= from' },
    to: { ...Timestamp, description: 'RFC 3339; events with occurredAt < to' },
  },
  { $id: 'ReplayWebhookEventsRequest', additionalProperties: false },
)

const WebhookId = { ...Uuid, description: 'The subscription id' }
export const WebhookParams = Type.Object({ id: WebhookId })
export const DeliveryParams = Type.Object({
  id: WebhookId,
  deliveryId: { ...Uuid, description: 'The delivery id (its webhook-id header)' },
})

const Cursor = Type.Optional(
  SingleLineText({ maxLength: 200, description: 'nextCursor of the previous page' }),
)

export const WebhookListQuery = Type.Object({ limit: Type.Optional(ListLimit), cursor: Cursor })

export const DeliveryStatus = StringEnum(['pending', 'succeeded', 'failed', 'cancelled'], {
  $id: 'WebhookDeliveryStatus',
  description: 'pending while retries remain; failed after the last one; cancelled with its subscription',
})

export const DeliveryListQuery = Type.Object({
  status: Type.Optional(DeliveryStatus),
  limit: Type.Optional(ListLimit),
  cursor: Cursor,
})

export const Webhook = Type.Object(
  {
    id: Uuid,
    url: Type.String(),
    eventTypes: Type.Array(Type.String()),
    walletId: Type.Union([Uuid, Type.Null()]),
    userId: Type.Union([Uuid, Type.Null()]),
    description: Type.Union([Type.String(), Type.Null()]),
    status: StringEnum(['enabled', 'disabled'], {
      $id: 'WebhookStatus',
      description: 'disabled by hand, or after too many failed deliveries in a row (disabledReason)',
    }),
    failing: Type.Boolean({ description: 'consecutiveFailures > 0' }),
    consecutiveFailures: Type.Integer({
      description: 'Deliveries failed in a row, each after all its retries',
    }),
    disabledReason: Type.Union([Type.String(), Type.Null()]),
    previousSecretExpiresAt: NullableTimestamp,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Webhook' },
)
export type WebhookView = Static<typeof Webhook>

export const CreatedWebhook = Type.Object(
  {
    ...Webhook.properties,
    secret: Type.String({
      description: 'whsec_...: shown only here and on rotation; verify signatures with it',
    }),
  },
  { $id: 'CreatedWebhook' },
)
export type CreatedWebhookView = Static<typeof CreatedWebhook>

export const WebhookList = Type.Object(
  {
    items: Type.Array(Webhook),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next page' }),
  },
  { $id: 'WebhookList' },
)

export const RotatedSecret = Type.Object(
  {
    secret: Type.String(),
    previousSecretExpiresAt: Timestamp,
  },
  { $id: 'RotatedWebhookSecret' },
)

export const Delivery = Type.Object(
  {
    id: { ...Uuid, description: 'The webhook-id header: the same on every retry and replay' },
    eventId: Uuid,
    eventType: Type.String(),
    status: DeliveryStatus,
    attempts: Type.Integer(),
    lastStatusCode: Type.Union([Type.Integer(), Type.Null()]),
    lastLatencyMs: Type.Union([Type.Integer(), Type.Null()]),
    lastError: Type.Union([Type.String(), Type.Null()]),
    lastAttemptAt: NullableTimestamp,
    nextAttemptAt: NullableTimestamp,
    createdAt: Timestamp,
    completedAt: NullableTimestamp,
  },
  { $id: 'WebhookDelivery' },
)
export type DeliveryView = Static<typeof Delivery>

export const DeliveryDetail = Type.Object(
  {
    ...Delivery.properties,
    payload: Type.String({ description: 'The body as sent (JSON text)' }),
    lastResponseBody: Type.Union([Type.String(), Type.Null()], {
      description: 'The first bytes of the last response',
    }),
  },
  { $id: 'WebhookDeliveryDetail' },
)
export type DeliveryDetailView = Static<typeof DeliveryDetail>

export const DeliveryList = Type.Object(
  {
    items: Type.Array(Delivery),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next page' }),
  },
  { $id: 'WebhookDeliveryList' },
)

export const ReplayAccepted = Type.Object(
  { deliveries: Type.Integer({ description: 'Deliveries created or set back to pending' }) },
  { $id: 'WebhookReplayAccepted' },
)
