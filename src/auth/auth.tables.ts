import type { ColumnType, Insertable, Selectable } from 'kysely'
import type { Role } from './principal.js'

type CreatedAt = ColumnType<Date, Date | undefined, never>

export interface UsersTable {
  id: string
  /** Trimmed, case kept; unique by lower(email). Null for users known only to an external issuer. */
  email: string | null
  name: string | null
  /** argon2id PHC string; null for users who sign in only through an external issuer. */
  password_hash: string | null
  roles: Role[]
  created_at: CreatedAt
}

export interface ExternalIdentitiesTable {
  issuer: string
  subject: string
  user_id: string
  created_at: CreatedAt
}

export interface SessionsTable {
  id: string
  user_id: string
  created_at: CreatedAt
  refreshed_at: Date | null
  revoked_at: Date | null
  /** 'sign_out', 'refresh_reuse' or 'revoked_by_user'. */
  revoked_reason: string | null
}

export interface RefreshTokensTable {
  id: string
  session_id: string
  /** SHA-256 of the token, base64url: the token itself is never stored. */
  token_hash: string
  /** The access token issued together with this refresh token, so revoking a session can deny it. */
  access_token_id: string
  access_expires_at: Date
  created_at: CreatedAt
  expires_at: Date
  /** Set when the token was exchanged; presenting it again is reuse. */
  rotated_at: Date | null
}

export interface RevokedTokensTable {
  /** JWT id of an access token that must be refused until it expires. */
  jti: string
  expires_at: Date
}

export interface SigningKeysTable {
  kid: string
  algorithm: string
  public_jwk: ColumnType<JsonWebKeyRecord, string, string>
  private_key_pem: string
  created_at: CreatedAt
  retired_at: Date | null
}

export interface ApiKeysTable {
  id: string
  name: string
  /** The first characters of the key, shown in listings so an operator can tell keys apart. */
  prefix: string
  /** SHA-256 of the key, base64url. */
  key_hash: string
  roles: Role[]
  created_by: string | null
  created_at: CreatedAt
  revoked_at: Date | null
}

export type JsonWebKeyRecord = Record<string, string>

export interface AuthTables {
  users: UsersTable
  external_identities: ExternalIdentitiesTable
  sessions: SessionsTable
  refresh_tokens: RefreshTokensTable
  revoked_tokens: RevokedTokensTable
  signing_keys: SigningKeysTable
  api_keys: ApiKeysTable
}

export type UserRow = Selectable<UsersTable>
export type NewUser = Insertable<UsersTable>
export type SessionRow = Selectable<SessionsTable>
export type RefreshTokenRow = Selectable<RefreshTokensTable>
export type ApiKeyRow = Selectable<ApiKeysTable>
export type SigningKeyRow = Selectable<SigningKeysTable>
