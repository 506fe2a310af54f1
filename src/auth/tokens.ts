import { errors, jwtVerify, SignJWT } from 'jose'
import type { Logger } from 'pino'
import { uuidv7 } from 'uuidv7'
import { ROLES, type Role } from './principal.js'
import { SIGNING_ALGORITHM, type SigningKeys } from './signing-keys.js'

export interface TokenSettings {
  issuer: string
  audience: string
  ttlSeconds: number
}

export interface IssuedAccessToken {
  token: string
  tokenId: string
  expiresAt: Date
  expiresIn: number
}

export interface TokenSubject {
  userId: string
  roles: Role[]
  sessionId: string
}

export interface PlannedAccessToken {
  tokenId: string
  issuedAt: number
  expiresAt: Date
}

export interface VerifiedAccessToken {
  userId: string
  roles: Role[]
  sessionId: string
  tokenId: string
  expiresAt: Date
}

/** Small allowance for clocks of different processes; expiry is otherwise exact. */
const CLOCK_TOLERANCE_SECONDS = 5

/** Coffer's own access tokens: EdDSA JWTs with sub, roles, sid, jti, iat, exp, iss and aud. */
export class AccessTokens {
  constructor(
    private readonly keys: SigningKeys,
    private readonly settings: TokenSettings,
    private readonly logger: Logger,
  ) {}

  async issue(subject: TokenSubject): Promise<IssuedAccessToken> {
    return this.sign(this.plan(), subject)
  }

  /**
   * The id and expiry of a token before it is signed, so they can be stored in a transaction that
   * must not wait on anything else, and the token signed after it commits.
   */
  plan(): PlannedAccessToken {
    const issuedAt = Math.floor(Date.now() / 1000)
    return {
      tokenId: uuidv7(),
      issuedAt,
      expiresAt: new Date((issuedAt + this.settings.ttlSeconds) * 1000),
    }
  }

  async sign(planned: PlannedAccessToken, subject: TokenSubject): Promise<IssuedAccessToken> {
    const key = await this.keys.signingKey()
    const token = await new SignJWT({ roles: subject.roles, sid: subject.sessionId })
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: key.kid, typ: 'JWT' })
      .setSubject(subject.userId)
      .setJti(planned.tokenId)
      .setIssuedAt(planned.issuedAt)
      .setExpirationTime(planned.expiresAt)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .sign(key.privateKey)
    return {
      token,
      tokenId: planned.tokenId,
      expiresAt: planned.expiresAt,
      expiresIn: this.settings.ttlSeconds,
    }
  }

  /** Null for any token that is not a valid, unexpired token of ours; the reason goes to the debug log. */
  async verify(token: string): Promise<VerifiedAccessToken | null> {
    try {
      const { payload } = await jwtVerify(token, await this.keys.verificationKeys(), {
        // Pinned: never trust the token's own alg header (alg none, HS256 keyed with our public key).
        algorithms: [SIGNING_ALGORITHM],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        requiredClaims: ['sub', 'jti', 'iat', 'exp'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      })
      const roles = payload.roles
      if (!isRoleList(roles) || typeof payload.sid !== 'string' || payload.exp === undefined) return null
      return {
        userId: payload.sub as string,
        roles,
        sessionId: payload.sid,
        tokenId: payload.jti as string,
        expiresAt: new Date(payload.exp * 1000),
      }
    } catch (error) {
      logRejection(this.logger, 'access token rejected', error)
      return null
    }
  }
}

export function isRoleList(value: unknown): value is Role[] {
  return Array.isArray(value) && value.every((role) => (ROLES as readonly unknown[]).includes(role))
}

export function logRejection(logger: Logger, message: string, error: unknown): void {
  if (error instanceof errors.JOSEError) {
    // Expected for bad tokens, except the JWKS being unreachable, which operators need to see.
    const level = error instanceof errors.JWKSTimeout ? 'warn' : 'debug'
    logger[level]({ reason: error.code }, message)
    return
  }
  logger.warn({ err: error }, message)
}
