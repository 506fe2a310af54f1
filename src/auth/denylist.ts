import type { Redis } from 'ioredis'
import type { Db } from '../db/database.js'
import { authRepository } from './auth.repository.js'

export interface DeniedToken {
  jti: string
  /** When the token expires anyway; the entry is useless after that. */
  expiresAt: Date
}

/** Access tokens refused before their expiry (sign-out, refresh-token reuse), by JWT id. */
export interface AccessTokenDenylist {
  deny(tokens: DeniedToken[]): Promise<void>
  isDenied(jti: string): Promise<boolean>
  /** Drops entries whose tokens have expired; returns how many. */
  purgeExpired(now: Date): Promise<number>
}

export class DatabaseDenylist implements AccessTokenDenylist {
  constructor(private readonly db: Db) {}

  deny(tokens: DeniedToken[]): Promise<void> {
    return authRepository.insertRevokedTokens(this.db, tokens)
  }

  isDenied(jti: string): Promise<boolean> {
    return authRepository.isTokenRevoked(this.db, jti)
  }

  purgeExpired(now: Date): Promise<number> {
    return authRepository.deleteExpiredRevokedTokens(this.db, now)
  }
}

/** Each entry expires with its token, so Redis purges itself. */
export class RedisDenylist implements AccessTokenDenylist {
  constructor(private readonly redis: Redis) {}

  async deny(tokens: DeniedToken[]): Promise<void> {
    const now = Date.now()
    const live = tokens.filter((t) => t.expiresAt.getTime() > now)
    if (live.length === 0) return
    const batch = this.redis.multi()
    for (const token of live) batch.set(keyOf(token.jti), '1', 'PX', token.expiresAt.getTime() - now)
    const results = await batch.exec()
    const failed = results?.find(([error]) => error)
    if (!results || failed) throw failed?.[0] ?? new Error('denylist write was discarded')
  }

  async isDenied(jti: string): Promise<boolean> {
    return (await this.redis.exists(keyOf(jti))) === 1
  }

  async purgeExpired(): Promise<number> {
    return 0
  }
}

function keyOf(jti: string): string {
  return `denied-jti:${jti}`
}
