import { type Kysely, sql } from 'kysely'

/**
 * The ledger. Amounts are NUMERIC(38,0) minor units, not bigint: bigint stops at 9.2e18, which a
 * token with 18 decimals (1 ETH = 1e18 wei) passes at ten coins; 38 digits hold any amount the
 * money parser accepts for ISO currencies and 20 integer digits of an 18-decimal asset, and
 * PostgreSQL adds them exactly. The posting engine rejects anything larger before it is written.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table accounts (
      id uuid primary key,
      kind text not null check (kind in ('wallet', 'system')),
      -- system accounts: 'world', 'merchant:<id>', 'fx', 'points:issuer'; null for wallets
      name text,
      user_id uuid,
      currency text not null,
      balance numeric(38, 0) not null default 0,
      -- held by pending holds: available = balance - pending
      pending numeric(38, 0) not null default 0 check (pending >= 0),
      -- lowest allowed available balance; null means no floor (system accounts)
      floor numeric(38, 0),
      status text not null default 'active' check (status in ('active', 'frozen', 'closed')),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check ((kind = 'wallet') = (user_id is not null)),
      check ((kind = 'system') = (name is not null))
    )
  `.execute(db)
  await sql`create unique index accounts_one_wallet_per_user_currency on accounts (user_id, currency) where kind = 'wallet'`.execute(
    db,
  )
  await sql`create unique index accounts_system_name_currency on accounts (name, currency) where kind = 'system'`.execute(
    db,
  )

  await sql`
    create table transactions (
      id uuid primary key,
      type text not null,
      status text not null default 'posted',
      currency text not null,
      amount numeric(38, 0) not null check (amount > 0),
      reference text,
      description text,
      metadata jsonb,
      reverses_id uuid references transactions (id),
      -- e.g. 'forced' for an admin reversal allowed to overdraw its payee
      flags text[] not null default '{}',
      created_at timestamptz not null
    )
  `.execute(db)
  await sql`create index transactions_reverses on transactions (reverses_id) where reverses_id is not null`.execute(
    db,
  )

  await sql`
    create table entries (
      -- allocated while the wallet row is locked, so per wallet it increases in commit order:
      -- history pages keyed on it neither skip nor repeat rows under concurrent writes
      seq bigint generated always as identity,
      transaction_id uuid not null references transactions (id),
      account_id uuid not null references accounts (id),
      currency text not null,
      amount numeric(38, 0) not null check (amount <> 0),
      -- wallets only: system accounts are not locked, so they have no running balance
      balance_after numeric(38, 0),
      created_at timestamptz not null,
      primary key (transaction_id, seq)
    )
  `.execute(db)
  await sql`create index entries_account_seq on entries (account_id, seq desc)`.execute(db)
  await sql`create index entries_account_created on entries (account_id, created_at desc, seq desc)`.execute(
    db,
  )

  for (const table of ['transactions', 'entries']) {
    await sql`
      create trigger ${sql.raw(`${table}_append_only`)} before update or delete on ${sql.table(table)}
      for each row execute function coffer_reject_modification()
    `.execute(db)
    await sql`
      create trigger ${sql.raw(`${table}_no_truncate`)} before truncate on ${sql.table(table)}
      for each statement execute function coffer_reject_modification()
    `.execute(db)
  }

  // System accounts take postings without a row lock; their movements queue here and the
  // worker folds them into accounts.balance, so their exact balance is balance + queued deltas.
  await sql`
    create table system_balance_deltas (
      id bigint generated always as identity primary key,
      account_id uuid not null references accounts (id),
      amount numeric(38, 0) not null
    )
  `.execute(db)
  await sql`create index system_balance_deltas_account on system_balance_deltas (account_id)`.execute(db)

  await sql`
    create table idempotency_keys (
      scope text not null,
      key text not null,
      fingerprint text not null,
      status_code integer not null,
      response_body text not null,
      created_at timestamptz not null default now(),
      primary key (scope, key)
    )
  `.execute(db)
  await sql`create index idempotency_keys_created on idempotency_keys (created_at)`.execute(db)

  await sql`
    create table outbox (
      id uuid primary key,
      type text not null,
      aggregate_type text not null,
      aggregate_id text not null,
      payload jsonb not null,
      created_at timestamptz not null default now(),
      published_at timestamptz
    )
  `.execute(db)
  await sql`create index outbox_unpublished on outbox (id) where published_at is null`.execute(db)
}
