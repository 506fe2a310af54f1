import { defineError } from '../errors.js'

export const WebhookNotFound = defineError<{ webhookId: string }>({
  code: 'webhook_not_found',
  status: 404,
  title: 'Webhook subscription not found',
  detail: (p) => `No webhook subscription ${p.webhookId} that you can see`,
  members: ['webhookId'],
})

export const WebhookDeliveryNotFound = defineError<{ deliveryId: string }>({
  code: 'webhook_delivery_not_found',
  status: 404,
  title: 'Webhook delivery not found',
  detail: (p) => `No delivery ${p.deliveryId} of this webhook subscription`,
  members: ['deliveryId'],
})

export const WebhookUrlRefused = defineError<{ url: string; reason: string }>({
  code: 'webhook_url_refused',
  status: 422,
  title: 'Webhook URL refused',
  detail: (p) => `Webhook URL refused: ${p.reason}`,
  members: ['reason'],
})

export const UnknownEventType = defineError<{ eventType: string }>({
  code: 'unknown_event_type',
  status: 422,
  title: 'Unknown event type',
  detail: (p) => `${JSON.stringify(p.eventType)} is no event type and matches none`,
  members: ['eventType'],
})

export const WebhookFilterNotFound = defineError<{ field: 'walletId' | 'userId'; id: string }>({
  code: 'webhook_filter_not_found',
  status: 422,
  title: 'Webhook filter names nothing',
  detail: (p) => `${p.field} ${p.id} names no ${p.field === 'walletId' ? 'wallet' : 'user'}`,
  members: ['field', 'id'],
})

export const InvalidReplayRange = defineError<{ detail: string }>({
  code: 'invalid_replay_range',
  status: 422,
  title: 'Invalid replay range',
  detail: (p) => p.detail,
  members: [],
})

export const ReplayRangeTooLarge = defineError<{ events: number; limit: number }>({
  code: 'replay_range_too_large',
  status: 422,
  title: 'Replay range too large',
  detail: (p) =>
    `The range holds ${p.events} events, more than ${p.limit} per replay; narrow it and replay in parts`,
  members: ['events', 'limit'],
})
