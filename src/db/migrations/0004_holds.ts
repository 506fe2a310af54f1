import { type Kysely, sql } from 'kysely'

/**
 * Two-phase payments. A hold's money never moves until capture: placing it raises the wallet's
 * `pending`, and each later transition (capture, void, expiry) is a recorded transaction that
 * lowers it again. The hold row is the state machine; its transitions are guarded by a row lock.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table holds (
      id uuid primary key,
      wallet_id uuid not null references accounts (id),
      currency text not null,
      amount numeric(38, 0) not null check (amount > 0),
      captured_amount numeric(38, 0) check (captured_amount > 0 and captured_amount <= amount),
      merchant text,
      status text not null default 'pending' check (status in ('pending', 'captured', 'voided', 'expired')),
      expires_at timestamptz,
      description text,
      hold_transaction_id uuid not null references transactions (id),
      settled_transaction_id uuid references transactions (id),
      created_at timestamptz not null,
      updated_at timestamptz not null,
      check ((status = 'pending') = (settled_transaction_id is null)),
      check ((status = 'captured') = (captured_amount is not null))
    )
  `.execute(db)
  await sql`create index holds_wallet on holds (wallet_id, created_at desc)`.execute(db)
  await sql`create index holds_pending_expiry on holds (expires_at) where status = 'pending' and expires_at is not null`.execute(
    db,
  )
  await sql`create index holds_pending_wallet on holds (wallet_id) where status = 'pending'`.execute(db)
}
