import { type Kysely, sql } from 'kysely'

/** Users, sessions with rotating refresh tokens, the access-token denylist, signing keys, API keys. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table users (
      id uuid primary key,
      email text,
      name text,
      password_hash text,
      roles text[] not null default '{user}',
      created_at timestamptz not null default now(),
      constraint users_roles_known check (roles <@ array['user', 'admin', 'service']::text[])
    )
  `.execute(db)
  // Emails compare case-insensitively; several external-only users may have none.
  await sql`create unique index users_email_unique on users (lower(email))`.execute(db)

  await sql`
    create table external_identities (
      issuer text not null,
      subject text not null,
      user_id uuid not null references users (id),
      created_at timestamptz not null default now(),
      primary key (issuer, subject)
    )
  `.execute(db)
  await sql`create index external_identities_user on external_identities (user_id)`.execute(db)

  await sql`
    create table sessions (
      id uuid primary key,
      user_id uuid not null references users (id),
      created_at timestamptz not null default now(),
      refreshed_at timestamptz,
      revoked_at timestamptz,
      revoked_reason text
    )
  `.execute(db)
  await sql`create index sessions_user on sessions (user_id, created_at desc)`.execute(db)

  await sql`
    create table refresh_tokens (
      id uuid primary key,
      session_id uuid not null references sessions (id),
      token_hash text not null unique,
      access_token_id text not null,
      access_expires_at timestamptz not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      rotated_at timestamptz
    )
  `.execute(db)
  await sql`create index refresh_tokens_session on refresh_tokens (session_id)`.execute(db)
  await sql`create index refresh_tokens_expiry on refresh_tokens (expires_at)`.execute(db)

  await sql`
    create table revoked_tokens (
      jti text primary key,
      expires_at timestamptz not null
    )
  `.execute(db)
  await sql`create index revoked_tokens_expiry on revoked_tokens (expires_at)`.execute(db)

  await sql`
    create table signing_keys (
      kid text primary key,
      algorithm text not null,
      public_jwk jsonb not null,
      private_key_pem text not null,
      created_at timestamptz not null default now(),
      retired_at timestamptz
    )
  `.execute(db)
  // At most one active key: two processes starting on an empty table cannot both add one.
  await sql`
    create unique index signing_keys_one_active on signing_keys ((retired_at is null))
    where retired_at is null
  `.execute(db)

  await sql`
    create table api_keys (
      id uuid primary key,
      name text not null,
      prefix text not null,
      key_hash text not null unique,
      roles text[] not null,
      created_by uuid references users (id),
      created_at timestamptz not null default now(),
      revoked_at timestamptz,
      constraint api_keys_roles_known check (roles <@ array['user', 'admin', 'service']::text[])
    )
  `.execute(db)
}
