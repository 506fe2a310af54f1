import { sql } from 'kysely'
import type { Db } from '../db/database.js'
import type { ApiKeyRow, NewUser, SessionRow, SigningKeyRow, UserRow } from './auth.tables.js'
import type { Role } from './principal.js'

/**
 * SQL of the auth module. Every method takes the connection or transaction it runs in, so the
 * service decides what is atomic.
 */
export const authRepository = {
  /** Undefined when the email (compared case-insensitively) is already taken. */
  async insertUser(db: Db, user: NewUser): Promise<UserRow | undefined> {
    return db
      .insertInto('users')
      .values(user)
      .onConflict((conflict) => conflict.doNothing())
      .returningAll()
      .executeTakeFirst()
  },

  async findUserById(db: Db, id: string): Promise<UserRow | undefined> {
    return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
  },

  /**
   * Newest first: ids are UUIDv7, so id order is creation order and `before` (an id) is a stable
   * position. `emailContains` matches anywhere in the email, ignoring case; strpos rather than
   * LIKE, so `%` and `_` in a search are plain characters.
   */
  async listUsers(
    db: Db,
    page: { limit: number; before?: string | undefined; emailContains?: string | undefined },
  ): Promise<UserRow[]> {
    let query = db.selectFrom('users').selectAll().orderBy('id', 'desc').limit(page.limit)
    if (page.before) query = query.where('id', '<', page.before)
    if (page.emailContains) {
      query = query.where(sql<number>`strpos(lower(email), lower(${page.emailContains}))`, '>', 0)
    }
    return query.execute()
  },

  async findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
    return db
      .selectFrom('users')
      .selectAll()
      .where(sql<string>`lower(email)`, '=', email.toLowerCase())
      .executeTakeFirst()
  },

  async findUserByExternalIdentity(db: Db, issuer: string, subject: string): Promise<UserRow | undefined> {
    return db
      .selectFrom('external_identities as e')
      .innerJoin('users as u', 'u.id', 'e.user_id')
      .selectAll('u')
      .where('e.issuer', '=', issuer)
      .where('e.subject', '=', subject)
      .executeTakeFirst()
  },

  /** False when another request linked this identity first. */
  async insertExternalIdentity(
    db: Db,
    identity: { issuer: string; subject: string; user_id: string },
  ): Promise<boolean> {
    const inserted = await db
      .insertInto('external_identities')
      .values(identity)
      .onConflict((conflict) => conflict.columns(['issuer', 'subject']).doNothing())
      .returning('user_id')
      .executeTakeFirst()
    return inserted !== undefined
  },

  async insertSession(db: Db, session: { id: string; user_id: string }): Promise<void> {
    await db.insertInto('sessions').values(session).execute()
  },

  async listActiveSessions(db: Db, userId: string): Promise<SessionRow[]> {
    return db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('refresh_tokens')
            .select('id')
            .whereRef('refresh_tokens.session_id', '=', 'sessions.id')
            .where('refresh_tokens.rotated_at', 'is', null)
            .where('refresh_tokens.expires_at', '>', new Date()),
        ),
      )
      .orderBy('created_at', 'desc')
      .execute()
  },

  async findSession(db: Db, id: string): Promise<SessionRow | undefined> {
    return db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst()
  },

  /** Marks the session revoked unless it already is; returns whether this call revoked it. */
  async revokeSession(db: Db, id: string, reason: string): Promise<boolean> {
    const result = await db
      .updateTable('sessions')
      .set({ revoked_at: new Date(), revoked_reason: reason })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  },

  async touchSession(db: Db, id: string): Promise<void> {
    await db.updateTable('sessions').set({ refreshed_at: new Date() }).where('id', '=', id).execute()
  },

  async insertRefreshToken(
    db: Db,
    token: {
      id: string
      session_id: string
      token_hash: string
      access_token_id: string
      access_expires_at: Date
      expires_at: Date
    },
  ): Promise<void> {
    await db.insertInto('refresh_tokens').values(token).execute()
  },

  /** The token and its session, locked so two refreshes with one token are applied one at a time. */
  async findRefreshTokenForUpdate(db: Db, tokenHash: string) {
    return db
      .selectFrom('refresh_tokens as t')
      .innerJoin('sessions as s', 's.id', 't.session_id')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .select([
        't.id',
        't.session_id',
        't.expires_at',
        't.rotated_at',
        's.user_id',
        's.revoked_at as session_revoked_at',
        'u.roles',
      ])
      .where('t.token_hash', '=', tokenHash)
      .forUpdate()
      .executeTakeFirst()
  },

  async markRefreshTokenRotated(db: Db, id: string): Promise<void> {
    await db.updateTable('refresh_tokens').set({ rotated_at: new Date() }).where('id', '=', id).execute()
  },

  /** Access tokens of a session that have not expired yet: what revoking the session must deny. */
  async liveAccessTokens(db: Db, sessionId: string, now: Date): Promise<{ jti: string; expiresAt: Date }[]> {
    const rows = await db
      .selectFrom('refresh_tokens')
      .select(['access_token_id', 'access_expires_at'])
      .where('session_id', '=', sessionId)
      .where('access_expires_at', '>', now)
      .execute()
    return rows.map((row) => ({ jti: row.access_token_id, expiresAt: row.access_expires_at }))
  },

  async deleteExpiredRefreshTokens(db: Db, now: Date): Promise<number> {
    const result = await db.deleteFrom('refresh_tokens').where('expires_at', '<', now).executeTakeFirst()
    return Number(result.numDeletedRows)
  },

  async insertRevokedTokens(db: Db, tokens: { jti: string; expiresAt: Date }[]): Promise<void> {
    if (tokens.length === 0) return
    await db
      .insertInto('revoked_tokens')
      .values(tokens.map((t) => ({ jti: t.jti, expires_at: t.expiresAt })))
      .onConflict((conflict) => conflict.column('jti').doNothing())
      .execute()
  },

  async isTokenRevoked(db: Db, jti: string): Promise<boolean> {
    const row = await db.selectFrom('revoked_tokens').select('jti').where('jti', '=', jti).executeTakeFirst()
    return row !== undefined
  },

  async deleteExpiredRevokedTokens(db: Db, now: Date): Promise<number> {
    const result = await db.deleteFrom('revoked_tokens').where('expires_at', '<', now).executeTakeFirst()
    return Number(result.numDeletedRows)
  },

  async activeSigningKeys(db: Db): Promise<SigningKeyRow[]> {
    return db
      .selectFrom('signing_keys')
      .selectAll()
      .where('retired_at', 'is', null)
      .orderBy('created_at')
      .execute()
  },

  /** Keys retired after `since`: still published, for the tokens they signed. */
  async recentlyRetiredSigningKeys(db: Db, since: Date): Promise<SigningKeyRow[]> {
    return db
      .selectFrom('signing_keys')
      .selectAll()
      .where('retired_at', '>', since)
      .orderBy('retired_at', 'desc')
      .execute()
  },

  /** Retires the active key (for a rotation, in its transaction); returns what it retired. */
  async retireActiveSigningKeys(db: Db): Promise<SigningKeyRow[]> {
    return db
      .updateTable('signing_keys')
      .set({ retired_at: sql<Date>`statement_timestamp()` })
      .where('retired_at', 'is', null)
      .returningAll()
      .execute()
  },

  /** Adds a key unless another process already added the active one (signing_keys_one_active). */
  async insertSigningKey(
    db: Db,
    key: { kid: string; algorithm: string; public_jwk: string; private_key_pem: string },
  ): Promise<void> {
    await db
      .insertInto('signing_keys')
      .values(key)
      .onConflict((conflict) => conflict.doNothing())
      .execute()
  },

  async insertApiKey(
    db: Db,
    key: {
      id: string
      name: string
      prefix: string
      key_hash: string
      roles: Role[]
      created_by: string | null
    },
  ): Promise<ApiKeyRow> {
    return db.insertInto('api_keys').values(key).returningAll().executeTakeFirstOrThrow()
  },

  async findActiveApiKeyByHash(db: Db, keyHash: string): Promise<ApiKeyRow | undefined> {
    return db
      .selectFrom('api_keys')
      .selectAll()
      .where('key_hash', '=', keyHash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
  },

  /** Newest first; ids are UUIDv7, so id order is creation order. */
  async listApiKeys(db: Db, page: { limit: number; before?: string }): Promise<ApiKeyRow[]> {
    let query = db.selectFrom('api_keys').selectAll().orderBy('id', 'desc').limit(page.limit)
    if (page.before) query = query.where('id', '<', page.before)
    return query.execute()
  },

  async findApiKey(db: Db, id: string): Promise<ApiKeyRow | undefined> {
    return db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst()
  },

  async revokeApiKey(db: Db, id: string): Promise<void> {
    await db
      .updateTable('api_keys')
      .set({ revoked_at: new Date() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .execute()
  },
}
