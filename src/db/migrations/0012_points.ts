import { type Kysely, sql } from 'kysely'

/**
 * Loyalty points. A point account is an `accounts` row of kind 'wallet' in the program's asset,
 * so the posting engine locks it, holds it to its floor of 0 and keeps it balanced against
 * `points:issuer`; `pending` there is the earned points not yet available. These tables add what
 * the ledger does not know: which program an account belongs to, the lots points are earned in
 * (each with its own availability and expiry), which lots a spend drew from (so a reversal can
 * give them back), an account's history with its figures after each change, and earning rules.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table point_programs (
      code text primary key,
      asset text not null unique,
      name text not null,
      created_at timestamptz not null default now()
    )
  `.execute(db)
  await sql`insert into point_programs (code, asset, name) values ('default', 'PTS', 'Loyalty points')`.execute(
    db,
  )

  await sql`
    create table point_accounts (
      program text not null references point_programs (code),
      user_id uuid not null,
      account_id uuid not null unique references accounts (id),
      created_at timestamptz not null default now(),
      primary key (program, user_id)
    )
  `.execute(db)

  await sql`
    create table point_lots (
      id uuid primary key,
      account_id uuid not null references accounts (id),
      earn_transaction_id uuid not null references transactions (id),
      points numeric(38, 0) not null check (points > 0),
      remaining numeric(38, 0) not null check (remaining >= 0 and remaining <= points),
      -- pending: not yet available (counted in the account's pending); available; expired (what
      -- remained was forfeited); reversed (its earn was clawed back)
      status text not null check (status in ('pending', 'available', 'expired', 'reversed')),
      available_at timestamptz not null,
      expires_at timestamptz,
      source text not null,
      reference text,
      -- the purchase an earning rule gave this lot for, so its refund claws the lot back
      purchase_transaction_id uuid references transactions (id),
      -- points an earn reversal (a refund of the purchase) asked back, and what it could not take
      clawed_back numeric(38, 0) not null default 0,
      shortfall numeric(38, 0) not null default 0,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      check (expires_at is null or expires_at > available_at)
    )
  `.execute(db)
  await sql`create index point_lots_account_open on point_lots (account_id, expires_at) where status in ('pending', 'available')`.execute(
    db,
  )
  await sql`create index point_lots_earn on point_lots (earn_transaction_id)`.execute(db)
  await sql`create index point_lots_purchase on point_lots (purchase_transaction_id) where purchase_transaction_id is not null`.execute(
    db,
  )
  // The worker's sweep finds due lots by these two, oldest due first.
  await sql`create index point_lots_maturing on point_lots (available_at) where status = 'pending'`.execute(
    db,
  )
  await sql`create index point_lots_expiring on point_lots (expires_at) where status = 'available' and remaining > 0 and expires_at is not null`.execute(
    db,
  )

  await sql`
    create table point_draws (
      transaction_id uuid not null references transactions (id),
      lot_id uuid not null references point_lots (id),
      points numeric(38, 0) not null check (points > 0),
      primary key (transaction_id, lot_id)
    )
  `.execute(db)
  await sql`create index point_draws_lot on point_draws (lot_id)`.execute(db)

  // One row per reversed points transaction: a reversal that returns nothing (its lots expired)
  // moves no points and posts no ledger transaction, yet the original counts as reversed.
  await sql`
    create table point_reversals (
      original_transaction_id uuid primary key references transactions (id),
      reversal_transaction_id uuid references transactions (id),
      account_id uuid not null references accounts (id),
      points numeric(38, 0) not null check (points >= 0),
      reason text not null,
      created_at timestamptz not null
    )
  `.execute(db)

  await sql`
    create table point_history (
      -- allocated while the account row is locked, so per account it increases in commit order
      seq bigint generated always as identity primary key,
      account_id uuid not null references accounts (id),
      transaction_id uuid references transactions (id),
      type text not null,
      -- signed change of the total, and of the available points
      points numeric(38, 0) not null,
      available_change numeric(38, 0) not null,
      total_after numeric(38, 0) not null,
      pending_after numeric(38, 0) not null,
      lot_id uuid references point_lots (id),
      expires_at timestamptz,
      source text,
      reference text,
      description text,
      created_at timestamptz not null
    )
  `.execute(db)
  await sql`create index point_history_account on point_history (account_id, seq desc)`.execute(db)

  await sql`
    create table point_rules (
      id uuid primary key,
      program text not null references point_programs (code),
      position integer not null,
      currency text not null,
      points_per_unit numeric(38, 0) not null check (points_per_unit > 0),
      merchant text,
      pending_days integer not null check (pending_days >= 0),
      expiry_days integer check (expiry_days > pending_days),
      created_at timestamptz not null default now()
    )
  `.execute(db)
  await sql`create index point_rules_program on point_rules (program, position)`.execute(db)
}
