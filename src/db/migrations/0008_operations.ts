import { type Kysely, sql } from 'kysely'

/**
 * Asynchronous operations: one row per command, whether it came from `POST /api/v1/operations`
 * (sender `coffer`, key = the operation id) or from another service on `coffer.commands` (sender
 * = the configured service name, key = its operationId). The row is the state machine
 * `accepted -> succeeded | failed`; `result` is the answer recorded under the command's
 * idempotency key (the transaction as the principal sees it, or the problem).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table operations (
      id uuid primary key,
      sender text not null,
      operation_key text not null,
      type text not null check (type in ('deposit', 'withdrawal', 'transfer')),
      owner_user_id uuid,
      principal jsonb not null,
      request jsonb not null,
      status text not null default 'accepted' check (status in ('accepted', 'succeeded', 'failed')),
      transaction_id uuid references transactions (id),
      result jsonb,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      unique (sender, operation_key),
      check ((status = 'accepted') = (result is null)),
      check (status = 'succeeded' or transaction_id is null)
    )
  `.execute(db)
  await sql`create index operations_owner on operations (owner_user_id, created_at desc)`.execute(db)
}
