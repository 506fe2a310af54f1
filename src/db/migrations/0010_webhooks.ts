import { type Kysely, sql } from 'kysely'

/**
 * Webhook subscriptions and their deliveries. A delivery is one event for one subscription: its
 * row is the whole state of the delivery (the dispatcher keeps nothing in memory), so a worker
 * that restarts, or another that takes the subscription's lease, goes on where it stopped.
 * `seq` is drawn when the fan-out inserts, which it does in bus order, so per wallet it follows
 * commit order and is the order deliveries sharing a wallet are sent in.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table webhook_subscriptions (
      id uuid primary key,
      -- the principal that created it: an API key id (service) or a user id (admin)
      owner_kind text not null check (owner_kind in ('user', 'api_key')),
      owner_id uuid not null,
      owner_is_admin boolean not null,
      url text not null,
      -- exact types or AMQP topic patterns; empty = every type
      event_types text[] not null default '{}',
      wallet_id uuid,
      user_id uuid,
      description text,
      -- stored as given (whsec_...): deliveries must be signed with it
      secret text not null,
      previous_secret text,
      previous_secret_expires_at timestamptz,
      status text not null default 'enabled' check (status in ('enabled', 'disabled')),
      disabled_reason text,
      consecutive_failures integer not null default 0,
      lease_owner text,
      lease_until timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      deleted_at timestamptz
    )
  `.execute(db)
  await sql`
    create index webhook_subscriptions_owner on webhook_subscriptions (owner_id, id desc)
    where deleted_at is null
  `.execute(db)

  await sql`
    create table webhook_deliveries (
      seq bigint generated always as identity primary key,
      -- the webhook-id header: one per subscription and event, the same on every retry and replay
      id uuid not null unique,
      subscription_id uuid not null references webhook_subscriptions (id),
      event_id uuid not null,
      event_type text not null,
      -- wallet ids, or '<aggregate type>:<aggregate id>' for an event with no wallet
      order_keys text[] not null,
      -- the JSON body exactly as signed and sent
      payload text not null,
      occurred_at timestamptz not null,
      status text not null default 'pending'
        check (status in ('pending', 'succeeded', 'failed', 'cancelled')),
      attempts integer not null default 0,
      -- attempts since the last (re)start of its retry schedule
      cycle_attempts integer not null default 0,
      next_attempt_at timestamptz not null default now(),
      last_attempt_at timestamptz,
      last_status_code integer,
      last_latency_ms integer,
      last_error text,
      last_response_body text,
      created_at timestamptz not null default now(),
      completed_at timestamptz,
      unique (subscription_id, event_id)
    )
  `.execute(db)
  await sql`
    create index webhook_deliveries_pending on webhook_deliveries (subscription_id, seq)
    where status = 'pending'
  `.execute(db)
  await sql`create index webhook_deliveries_log on webhook_deliveries (subscription_id, seq desc)`.execute(db)
}
