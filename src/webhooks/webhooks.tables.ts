import type { ColumnType, Generated } from 'kysely'

type DefaultedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>

export type SubscriptionStatus = 'enabled' | 'disabled'
export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'cancelled'

export interface WebhookSubscriptionsTable {
  id: string
  owner_kind: 'user' | 'api_key'
  owner_id: string
  owner_is_admin: boolean
  url: string
  event_types: ColumnType<string[], string[] | undefined, string[]>
  wallet_id: string | null
  user_id: string | null
  description: string | null
  /** As given (`whsec_<base64>`): deliveries are signed with it, so it cannot be hashed. */
  secret: string
  previous_secret: string | null
  previous_secret_expires_at: NullableTimestamp
  status: ColumnType<SubscriptionStatus, SubscriptionStatus | undefined, SubscriptionStatus>
  disabled_reason: string | null
  consecutive_failures: ColumnType<number, number | undefined, number>
  lease_owner: string | null
  lease_until: NullableTimestamp
  created_at: DefaultedTimestamp
  updated_at: DefaultedTimestamp
  deleted_at: NullableTimestamp
}

export interface WebhookDeliveriesTable {
  seq: Generated<bigint>
  id: string
  subscription_id: string
  event_id: string
  event_type: string
  order_keys: string[]
  payload: string
  occurred_at: ColumnType<Date, Date | string, Date | string>
  status: ColumnType<DeliveryStatus, DeliveryStatus | undefined, DeliveryStatus>
  attempts: ColumnType<number, number | undefined, number>
  cycle_attempts: ColumnType<number, number | undefined, number>
  next_attempt_at: DefaultedTimestamp
  last_attempt_at: NullableTimestamp
  last_status_code: number | null
  last_latency_ms: number | null
  last_error: string | null
  last_response_body: string | null
  created_at: DefaultedTimestamp
  completed_at: NullableTimestamp
}

export interface WebhooksTables {
  webhook_subscriptions: WebhookSubscriptionsTable
  webhook_deliveries: WebhookDeliveriesTable
}
