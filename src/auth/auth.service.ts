import { decodeJwt } from 'jose'
import type { Logger } from 'pino'
import { uuidv7 } from 'uuidv7'
import type { Config } from '../config.js'
import type { Db } from '../db/database.js'
import type { EventBus, Subscription } from '../events/bus.js'
import { insertOutboxEvents, type OutboxEvent, outboxEvent } from '../events/outbox.js'
import { InvalidCursor } from '../pagination.errors.js'
import {
  ApiKeyNotFound,
  EmailTaken,
  InvalidCredentials,
  InvalidRefreshToken,
  NoSessionToEnd,
  SessionNotFound,
  UserNotFound,
} from './auth.errors.js'
import { authRepository as repo } from './auth.repository.js'
import type { ApiKey, ApiKeyList, CreatedApiKey, Me, Session, TokenPair, User } from './auth.schemas.js'
import type { ApiKeyRow, UserRow } from './auth.tables.js'
import type { AccessTokenDenylist, DeniedToken } from './denylist.js'
import { ExternalIssuer, type ExternalToken } from './external-issuer.js'
import { hashPassword, passwordMatches } from './passwords.js'
import { hasRole, type Principal, type Role } from './principal.js'
import { followRevocations, PrincipalCache } from './principal-cache.js'
import { API_KEY_PREFIX, newApiKey, randomSecret, secretHash } from './secrets.js'
import { SigningKeys } from './signing-keys.js'
import { AccessTokens } from './tokens.js'

export interface AuthServiceDeps {
  db: Db
  config: Config
  logger: Logger
  denylist: AccessTokenDenylist
}

export interface NewUserInput {
  email: string
  password: string
  name?: string | undefined
  roles: Role[]
}

/** How many characters of an API key listings show: the ck_ prefix and 8 of the secret. */
const SHOWN_KEY_PREFIX_LENGTH = API_KEY_PREFIX.length + 8

class IdentityLinkedConcurrently extends Error {}

/**
 * Users, sessions, tokens and API keys. Every credential check answers with one error per kind
 * of credential, whatever the reason, so a caller never learns which check failed.
 */
export class AuthService {
  readonly signingKeys: SigningKeys
  private readonly tokens: AccessTokens
  private readonly external: ExternalIssuer | null
  private readonly db: Db
  private readonly config: Config
  private readonly logger: Logger
  private readonly denylist: AccessTokenDenylist
  /** Verified credentials of this process (AUTH_CACHE_TTL_SECONDS); null when it is 0. */
  readonly principals: PrincipalCache | null

  constructor(deps: AuthServiceDeps) {
    this.db = deps.db
    this.config = deps.config
    this.logger = deps.logger.child({ module: 'auth' })
    this.denylist = deps.denylist
    this.principals =
      deps.config.AUTH_CACHE_TTL_SECONDS > 0
        ? new PrincipalCache({ ttlSeconds: deps.config.AUTH_CACHE_TTL_SECONDS })
        : null
    this.signingKeys = new SigningKeys(deps.db, deps.config.JWT_PRIVATE_KEY, this.logger, {
      accessTokenTtlSeconds: deps.config.ACCESS_TOKEN_TTL_SECONDS,
    })
    this.tokens = new AccessTokens(
      this.signingKeys,
      {
        issuer: deps.config.JWT_ISSUER,
        audience: deps.config.JWT_AUDIENCE,
        ttlSeconds: deps.config.ACCESS_TOKEN_TTL_SECONDS,
      },
      this.logger,
    )
    const { AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE, AUTH_JWKS_COOLDOWN_SECONDS } = deps.config
    this.external =
      AUTH_JWKS_URL && AUTH_ISSUER && AUTH_AUDIENCE
        ? new ExternalIssuer(
            {
              jwksUrl: AUTH_JWKS_URL,
              issuer: AUTH_ISSUER,
              audience: AUTH_AUDIENCE,
              cooldownSeconds: AUTH_JWKS_COOLDOWN_SECONDS,
            },
            this.logger,
          )
        : null
  }

  /**
   * For a process serving HTTP: evict on every revocation any process commits (api_key.revoked,
   * session.revoked, access_token.revoked), so a revoked credential stops working here within the
   * relay's latency rather than AUTH_CACHE_TTL_SECONDS. Null when the cache is off.
   */
  async followRevocations(bus: EventBus): Promise<Subscription | null> {
    return this.principals ? followRevocations(bus, this.principals, this.logger) : null
  }

  /** Start-up work once migrations have run: load (or generate) the signing key, create the admin. */
  async prepare(): Promise<void> {
    await this.signingKeys.signingKey()
    await this.createAdminFromConfig()
  }

  register(input: { email: string; password: string; name?: string | undefined }): Promise<User> {
    return this.createUser({ ...input, roles: ['user'] })
  }

  async createUser(input: NewUserInput): Promise<User> {
    const row = await repo.insertUser(this.db, {
      id: uuidv7(),
      email: input.email.trim(),
      name: input.name ?? null,
      password_hash: await hashPassword(input.password),
      roles: input.roles,
    })
    if (!row) throw new EmailTaken()
    return toUser(row)
  }

  /** COFFER_ADMIN_EMAIL/COFFER_ADMIN_PASSWORD: creates that admin unless the email is registered. */
  async createAdminFromConfig(): Promise<void> {
    const email = this.config.COFFER_ADMIN_EMAIL?.trim()
    const password = this.config.COFFER_ADMIN_PASSWORD
    if (!email || !password) return
    const existing = await repo.findUserByEmail(this.db, email)
    if (existing) {
      if (!existing.roles.includes('admin')) {
        this.logger.warn({ userId: existing.id }, 'COFFER_ADMIN_EMAIL belongs to a user who is not an admin')
      }
      return
    }
    try {
      const admin = await this.createUser({ email, password, roles: ['admin'] })
      this.logger.info({ userId: admin.id }, 'created the admin user of COFFER_ADMIN_EMAIL')
    } catch (error) {
      // Another process starting at the same moment created it first.
      if (!(error instanceof EmailTaken)) throw error
    }
  }

  async signIn(input: { email: string; password: string }): Promise<TokenPair> {
    const user = await repo.findUserByEmail(this.db, input.email.trim())
    const matches = await passwordMatches(user?.password_hash ?? null, input.password)
    if (!user || !matches) throw new InvalidCredentials()
    return this.startSession(user)
  }

  private async startSession(user: UserRow): Promise<TokenPair> {
    const sessionId = uuidv7()
    const access = await this.tokens.issue({ userId: user.id, roles: user.roles, sessionId })
    const refreshToken = randomSecret()
    await this.db.transaction().execute(async (tx) => {
      await repo.insertSession(tx, { id: sessionId, user_id: user.id })
      await repo.insertRefreshToken(tx, {
        id: uuidv7(),
        session_id: sessionId,
        token_hash: secretHash(refreshToken),
        access_token_id: access.tokenId,
        access_expires_at: access.expiresAt,
        expires_at: this.refreshExpiry(),
      })
    })
    return { accessToken: access.token, refreshToken, tokenType: 'Bearer', expiresIn: access.expiresIn }
  }

  /**
   * Exchanges a refresh token for a new pair. A token that was already exchanged means two parties
   * hold it, one of them a thief: the whole session is revoked and its access tokens denied.
   */
  async refresh(refreshToken: string): Promise<TokenPair> {
    // Signing happens after the transaction; loading the key first means it cannot fail there and
    // leave the client with a rotated token and nothing in exchange.
    await this.signingKeys.signingKey()
    const now = new Date()
    const newRefreshToken = randomSecret()
    const outcome = await this.db.transaction().execute(async (tx) => {
      const current = await repo.findRefreshTokenForUpdate(tx, secretHash(refreshToken))
      if (!current || current.session_revoked_at) return { kind: 'invalid' as const }
      if (current.rotated_at) {
        await repo.revokeSession(tx, current.session_id, 'refresh_reuse')
        const denied = await repo.liveAccessTokens(tx, current.session_id, now)
        await insertOutboxEvents(tx, [
          sessionRevoked(current.session_id, current.user_id, 'refresh_reuse', denied, now),
        ])
        return { kind: 'reused' as const, sessionId: current.session_id, userId: current.user_id, denied }
      }
      if (current.expires_at <= now) return { kind: 'invalid' as const }
      const access = this.tokens.plan()
      await repo.markRefreshTokenRotated(tx, current.id)
      await repo.touchSession(tx, current.session_id)
      await repo.insertRefreshToken(tx, {
        id: uuidv7(),
        session_id: current.session_id,
        token_hash: secretHash(newRefreshToken),
        access_token_id: access.tokenId,
        access_expires_at: access.expiresAt,
        expires_at: this.refreshExpiry(),
      })
      return {
        kind: 'rotated' as const,
        access,
        subject: { userId: current.user_id, roles: current.roles, sessionId: current.session_id },
      }
    })
    if (outcome.kind === 'invalid') throw new InvalidRefreshToken()
    if (outcome.kind === 'reused') {
      this.principals?.evictSession(outcome.sessionId, jtisOf(outcome.denied))
      await this.denylist.deny(outcome.denied)
      this.logger.warn(
        { sessionId: outcome.sessionId, userId: outcome.userId },
        'refresh token presented twice; session revoked',
      )
      throw new InvalidRefreshToken()
    }
    const access = await this.tokens.sign(outcome.access, outcome.subject)
    return {
      accessToken: access.token,
      refreshToken: newRefreshToken,
      tokenType: 'Bearer',
      expiresIn: access.expiresIn,
    }
  }

  /** Ends the caller's session: its refresh token stops working and its access tokens are denied. */
  async signOut(principal: Principal): Promise<void> {
    if (principal.sessionId && principal.userId) {
      await this.endSession(principal.sessionId, principal.userId, 'sign_out', currentToken(principal))
      return
    }
    const token = currentToken(principal)
    // An external token has no session here; denying its jti is all Coffer can do.
    if (principal.kind === 'api_key' || token.length === 0 || !principal.userId) throw new NoSessionToEnd()
    const jtis = jtisOf(token)
    this.principals?.evictTokens(jtis)
    await this.denylist.deny(token)
    // The denylist writes on its own connection, so this event is not in one transaction with
    // it: a crash between the two leaves other processes to the AUTH_CACHE_TTL_SECONDS bound.
    await insertOutboxEvents(this.db, [
      outboxEvent(
        'access_token.revoked',
        { type: 'access_token', id: jtis[0]! },
        { userId: principal.userId, tokenIds: jtis, revokedAt: new Date().toISOString() },
      ),
    ])
  }

  async listSessions(principal: Principal): Promise<Session[]> {
    if (!principal.userId) return []
    const rows = await repo.listActiveSessions(this.db, principal.userId)
    return rows.map((row) => ({
      id: row.id,
      createdAt: row.created_at.toISOString(),
      refreshedAt: row.refreshed_at?.toISOString() ?? null,
      current: row.id === principal.sessionId,
    }))
  }

  /** Signs out one session of the caller (another device); someone else's session is not found. */
  async revokeSession(principal: Principal, sessionId: string): Promise<void> {
    const session = await repo.findSession(this.db, sessionId)
    const mayRevoke = session && (session.user_id === principal.userId || hasRole(principal, 'admin'))
    if (!mayRevoke) throw new SessionNotFound({ id: sessionId })
    await this.endSession(sessionId, session.user_id, 'revoked_by_user', [])
  }

  /**
   * Revokes the session and denies its live access tokens. `session.revoked` commits with the
   * session; the denials follow it (the denylist has its own writes), which is why the principal
   * cache does not cache an evicted session again for a TTL (src/auth/principal-cache.ts).
   */
  private async endSession(
    sessionId: string,
    userId: string,
    reason: string,
    alsoDeny: DeniedToken[],
  ): Promise<void> {
    const now = new Date()
    const denied = await this.db.transaction().execute(async (tx) => {
      await repo.revokeSession(tx, sessionId, reason)
      const live = await repo.liveAccessTokens(tx, sessionId, now)
      const tokens = [...live, ...alsoDeny.filter((t) => !live.some((l) => l.jti === t.jti))]
      await insertOutboxEvents(tx, [sessionRevoked(sessionId, userId, reason, tokens, now)])
      return tokens
    })
    this.principals?.evictSession(sessionId, jtisOf(denied))
    await this.denylist.deny(denied)
  }

  async me(principal: Principal): Promise<Me> {
    const user = principal.userId ? await repo.findUserById(this.db, principal.userId) : undefined
    return {
      kind: principal.kind,
      id: principal.id,
      userId: principal.userId,
      roles: principal.roles,
      user: user ? toUser(user) : null,
    }
  }

  /** Who holds a wallet or point account, as a statement names them; undefined for no such user. */
  async holder(
    userId: string,
  ): Promise<{ userId: string; email: string | null; name: string | null } | undefined> {
    const user = await repo.findUserById(this.db, userId)
    return user ? { userId: user.id, email: user.email, name: user.name } : undefined
  }

  /** The principal of a bearer credential (access token or API key), or null if it is not valid. */
  async authenticateBearer(credential: string): Promise<Principal | null> {
    const cache = this.principals
    if (!cache) return this.verifyBearer(credential)
    // The hash is the cache key (never the credential) and, for an API key, its database lookup.
    const hash = secretHash(credential)
    const cached = cache.get(hash)
    if (cached) return cached
    const generation = cache.generation
    const principal = await this.verifyBearer(credential, hash)
    if (principal) cache.set(hash, principal, generation)
    return principal
  }

  private async verifyBearer(credential: string, hash?: string): Promise<Principal | null> {
    if (credential.startsWith(API_KEY_PREFIX)) return this.authenticateApiKey(hash ?? secretHash(credential))
    const issuer = unverifiedIssuer(credential)
    if (issuer === this.config.JWT_ISSUER) {
      const principal = await this.authenticateOwnToken(credential)
      if (principal || !this.external || this.external.issuer !== issuer) return principal
    }
    if (this.external && issuer === this.external.issuer) return this.authenticateExternalToken(credential)
    return null
  }

  private async authenticateApiKey(keyHash: string): Promise<Principal | null> {
    const row = await repo.findActiveApiKeyByHash(this.db, keyHash)
    if (!row) return null
    return { kind: 'api_key', id: row.id, userId: null, roles: row.roles }
  }

  private async authenticateOwnToken(token: string): Promise<Principal | null> {
    const verified = await this.tokens.verify(token)
    if (!verified || (await this.denylist.isDenied(verified.tokenId))) return null
    return {
      kind: 'user',
      id: verified.userId,
      userId: verified.userId,
      roles: verified.roles,
      sessionId: verified.sessionId,
      tokenId: verified.tokenId,
      tokenExpiresAt: verified.expiresAt,
    }
  }

  private async authenticateExternalToken(token: string): Promise<Principal | null> {
    const verified = await this.external?.verify(token)
    if (!verified) return null
    if (verified.tokenId && (await this.denylist.isDenied(verified.tokenId))) return null
    const user = await this.localUserOf(verified)
    return {
      kind: 'user',
      id: user.id,
      userId: user.id,
      // Roles are Coffer's own: an external token cannot make its bearer an admin here. They are
      // cached with the principal; no API changes a user's roles today (whatever comes to must
      // call principals.evictUser and tell the other processes by an event).
      roles: user.roles,
      ...(verified.tokenId ? { tokenId: verified.tokenId } : {}),
      ...(verified.expiresAt ? { tokenExpiresAt: verified.expiresAt } : {}),
    }
  }

  /** The local user of an external identity, created on first sight; the email claim is not trusted. */
  private async localUserOf(identity: ExternalToken): Promise<UserRow> {
    const known = await repo.findUserByExternalIdentity(this.db, identity.issuer, identity.subject)
    if (known) return known
    try {
      return await this.db.transaction().execute(async (tx) => {
        const user = await repo.insertUser(tx, {
          id: uuidv7(),
          email: null,
          name: identity.name ?? null,
          password_hash: null,
          roles: ['user'],
        })
        if (!user) throw new Error('could not create the user of an external identity')
        const linked = await repo.insertExternalIdentity(tx, {
          issuer: identity.issuer,
          subject: identity.subject,
          user_id: user.id,
        })
        if (!linked) throw new IdentityLinkedConcurrently()
        this.logger.info(
          { userId: user.id, issuer: identity.issuer },
          'created the user of an external identity',
        )
        return user
      })
    } catch (error) {
      if (!(error instanceof IdentityLinkedConcurrently)) throw error
      const winner = await repo.findUserByExternalIdentity(this.db, identity.issuer, identity.subject)
      if (!winner) throw error
      return winner
    }
  }

  async createApiKey(input: {
    name: string
    roles: Role[]
    createdBy: string | null
  }): Promise<CreatedApiKey> {
    const key = newApiKey()
    const row = await repo.insertApiKey(this.db, {
      id: uuidv7(),
      name: input.name,
      prefix: key.slice(0, SHOWN_KEY_PREFIX_LENGTH),
      key_hash: secretHash(key),
      roles: [...new Set(input.roles)],
      created_by: input.createdBy,
    })
    this.logger.info({ apiKeyId: row.id, roles: row.roles }, 'API key created')
    return { ...toApiKey(row), key }
  }

  async listApiKeys(page: { limit: number; cursor?: string | undefined }): Promise<ApiKeyList> {
    const before = page.cursor ? decodeCursor(page.cursor) : undefined
    const rows = await repo.listApiKeys(this.db, { limit: page.limit + 1, before })
    const items = rows.slice(0, page.limit).map(toApiKey)
    const last = items.at(-1)
    return { items, nextCursor: rows.length > page.limit && last ? encodeCursor(last.id) : null }
  }

  /** The admins' directory of users (GET /users), paged like the API keys. */
  async listUsers(page: {
    limit: number
    cursor?: string | undefined
    email?: string | undefined
  }): Promise<{ items: User[]; nextCursor: string | null }> {
    const before = page.cursor ? decodeCursor(page.cursor) : undefined
    // Emails are stored trimmed, so surrounding spaces in a search could only match nothing.
    const emailContains = page.email?.trim() || undefined
    const rows = await repo.listUsers(this.db, { limit: page.limit + 1, before, emailContains })
    const items = rows.slice(0, page.limit).map(toUser)
    const last = items.at(-1)
    return { items, nextCursor: rows.length > page.limit && last ? encodeCursor(last.id) : null }
  }

  async getUser(id: string): Promise<User> {
    const row = await repo.findUserById(this.db, id)
    if (!row) throw new UserNotFound({ userId: id })
    return toUser(row)
  }

  async userExists(id: string): Promise<boolean> {
    return (await repo.findUserById(this.db, id)) !== undefined
  }

  /** Refused at once by this process, by the others once `api_key.revoked` reaches them. */
  async revokeApiKey(id: string): Promise<void> {
    const revokedNow = await this.db.transaction().execute(async (tx) => {
      const row = await repo.findApiKey(tx, id)
      if (!row) throw new ApiKeyNotFound({ id })
      if (row.revoked_at) return false
      await repo.revokeApiKey(tx, id)
      const revoked = await repo.findApiKey(tx, id)
      const revokedAt = (revoked?.revoked_at ?? new Date()).toISOString()
      await insertOutboxEvents(tx, [
        outboxEvent('api_key.revoked', { type: 'api_key', id }, { apiKeyId: id, revokedAt }),
      ])
      return true
    })
    // Also when it was revoked before: harmless, and "revoked" then always means "refused here now".
    this.principals?.evictApiKey(id)
    if (revokedNow) this.logger.info({ apiKeyId: id }, 'API key revoked')
  }

  /** The public signing keys, for GET /.well-known/jwks.json. */
  async jwks() {
    return { keys: await this.signingKeys.publishedKeys() }
  }

  /** Forgets what can no longer matter: denylist entries and refresh tokens past their expiry. */
  async purgeExpired(): Promise<{ deniedTokens: number; refreshTokens: number }> {
    const now = new Date()
    const deniedTokens = await this.denylist.purgeExpired(now)
    const refreshTokens = await repo.deleteExpiredRefreshTokens(this.db, now)
    return { deniedTokens, refreshTokens }
  }

  private refreshExpiry(): Date {
    return new Date(Date.now() + this.config.REFRESH_TOKEN_TTL_SECONDS * 1000)
  }
}

function currentToken(principal: Principal): DeniedToken[] {
  return principal.tokenId && principal.tokenExpiresAt
    ? [{ jti: principal.tokenId, expiresAt: principal.tokenExpiresAt }]
    : []
}

function jtisOf(tokens: DeniedToken[]): string[] {
  return tokens.map((token) => token.jti)
}

function sessionRevoked(
  sessionId: string,
  userId: string,
  reason: string,
  tokens: DeniedToken[],
  at: Date,
): OutboxEvent {
  return outboxEvent(
    'session.revoked',
    { type: 'session', id: sessionId },
    { sessionId, userId, reason, tokenIds: jtisOf(tokens), revokedAt: at.toISOString() },
  )
}

/** Only routes the token to the right verifier; the verifier checks iss again, with the signature. */
function unverifiedIssuer(token: string): string | undefined {
  try {
    return decodeJwt(token).iss
  } catch {
    return undefined
  }
}

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    roles: row.roles,
    createdAt: row.created_at.toISOString(),
  }
}

function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    roles: row.roles,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    revokedAt: row.revoked_at?.toISOString() ?? null,
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

function encodeCursor(id: string): string {
  return Buffer.from(id).toString('base64url')
}

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString()
  if (!UUID.test(id)) throw new InvalidCursor()
  return id
}
