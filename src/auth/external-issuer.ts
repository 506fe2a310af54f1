import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from 'jose'
import type { Logger } from 'pino'
import { logRejection } from './tokens.js'

export interface ExternalIssuerSettings {
  jwksUrl: string
  issuer: string
  audience: string
  /** Minimum time between two JWKS fetches, so a flood of unknown kids cannot hammer the provider. */
  cooldownSeconds: number
}

export interface ExternalToken {
  issuer: string
  subject: string
  tokenId: string | undefined
  expiresAt: Date | undefined
  name: string | undefined
}

/**
 * Asymmetric algorithms only: with a JWKS of public keys an HMAC or 'none' token could be forged
 * by anyone who can read the JWKS.
 */
const EXTERNAL_ALGORITHMS = [
  'EdDSA',
  'Ed25519',
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
]

/**
 * An identity provider whose access tokens Coffer also accepts. jose's remote JWKS caches the keys
 * and fetches again when a token names a kid it does not know (at most once per cooldown).
 */
export class ExternalIssuer {
  private readonly keys: JWTVerifyGetKey

  constructor(
    private readonly settings: ExternalIssuerSettings,
    private readonly logger: Logger,
  ) {
    this.keys = createRemoteJWKSet(new URL(settings.jwksUrl), {
      cooldownDuration: settings.cooldownSeconds * 1000,
      timeoutDuration: 5000,
    })
  }

  get issuer(): string {
    return this.settings.issuer
  }

  async verify(token: string): Promise<ExternalToken | null> {
    try {
      const { payload } = await jwtVerify(token, this.keys, {
        algorithms: EXTERNAL_ALGORITHMS,
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        requiredClaims: ['sub', 'exp'],
      })
      return {
        issuer: this.settings.issuer,
        subject: payload.sub as string,
        tokenId: payload.jti,
        expiresAt: payload.exp !== undefined ? new Date(payload.exp * 1000) : undefined,
        name: typeof payload.name === 'string' ? payload.name : undefined,
      }
    } catch (error) {
      logRejection(this.logger, 'external token rejected', error)
      return null
    }
  }
}
