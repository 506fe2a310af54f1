import { type Kysely, sql } from 'kysely'

/**
 * Custom assets, exchange rates and exchange quotes. ISO 4217 currencies are not stored: they come
 * with the code (src/money), so only operator-defined assets such as USDT live here.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table currencies (
      code text primary key check (code ~ '^[A-Z][A-Z0-9]{2,11}$'),
      decimals integer not null check (decimals between 0 and 18),
      name text not null check (length(name) between 1 and 100),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )
  `.execute(db)

  // Unconstrained numeric: it keeps the rate exactly as given, digit for digit, with no rounding
  // to a fixed scale and no float on the way in or out.
  await sql`
    create table fx_rates (
      base text not null,
      quote text not null,
      rate numeric not null check (rate > 0),
      updated_at timestamptz not null default now(),
      primary key (base, quote),
      check (base <> quote)
    )
  `.execute(db)

  await sql`
    create table fx_quotes (
      id uuid primary key,
      -- the principal that asked for the quote ('user:<id>' or 'api_key:<id>'); only it may use it
      scope text not null,
      from_currency text not null,
      to_currency text not null,
      rate numeric not null check (rate > 0),
      debited numeric(38, 0) not null check (debited > 0),
      credited numeric(38, 0) not null check (credited > 0),
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      -- set in the transaction that posts the exchange, so a quote is spent exactly once
      used_at timestamptz,
      transaction_id uuid references transactions (id),
      check ((used_at is null) = (transaction_id is null))
    )
  `.execute(db)
}
