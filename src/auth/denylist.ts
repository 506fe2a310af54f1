import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
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

/**
 * Redis in front of the database, so every process sharing Redis refuses a signed-out token
 * without a query per request, and a Redis outage never lets one through (this list fails closed:
 * a denial is never lost, at worst a lookup costs a query).
 *
 * - deny() writes the database first (the record that survives anything), then Redis; a Redis
 *   that fails then is noted, and this process reads the database until it has put the denials
 *   back into Redis.
 * - isDenied() trusts Redis only while the marker SYNCED_KEY is there: it is written after every
 *   live denial of the database has been copied in, so a Redis restarted empty (or flushed) has
 *   no marker, and lookups go to the database while one process copies the denials back. Redis
 *   unreachable: the database answers; the database down too: the lookup fails (503), never open.
 *
 * Assumes a Redis that does not evict keys with a TTL under memory pressure (noeviction, or an
 * allkeys-* policy, which would evict the marker too).
 */
export class RedisDenylist implements AccessTokenDenylist {
  private readonly database: DatabaseDenylist
  /** A denial of this process is missing from Redis; read the database until resynced. */
  private redisBehind = false
  /** Counts Redis write failures, so a resync clears redisBehind only if none happened since its read. */
  private writeFailures = 0
  private resyncing: Promise<void> | null = null

  constructor(
    private readonly redis: Redis,
    private readonly db: Db,
    private readonly logger?: Logger,
  ) {
    this.database = new DatabaseDenylist(db)
    // On every (re)connection: a Redis that lost its data (restart without persistence) has no
    // marker, and this process may have denials Redis never got.
    redis.on('ready', () => {
      if (this.redisBehind) void this.resync()
    })
  }

  async deny(tokens: DeniedToken[]): Promise<void> {
    await this.database.deny(tokens)
    try {
      await this.writeToRedis(tokens)
    } catch (error) {
      this.redisBehind = true
      this.writeFailures += 1
      this.logger?.warn(
        { err: (error as Error).message },
        'denylist: Redis write failed; the database has the denial, and lookups use it until Redis is resynced',
      )
    }
  }

  async isDenied(jti: string): Promise<boolean> {
    // Not connected: straight to the database, rather than waiting out REDIS_COMMAND_TIMEOUT_MS.
    if (this.redis.status === 'ready') {
      if (this.redisBehind) {
        void this.resync()
      } else {
        try {
          const [denied, synced] = await this.redis.mget(keyOf(jti), SYNCED_KEY)
          if (synced !== null) return denied !== null
          void this.resync()
        } catch (error) {
          this.logger?.debug(
            { err: (error as Error).message },
            'denylist: Redis lookup failed; asking the database',
          )
        }
      }
    }
    return this.database.isDenied(jti)
  }

  /** The database's rows are the source; Redis entries expire by themselves. */
  purgeExpired(now: Date): Promise<number> {
    return this.database.purgeExpired(now)
  }

  /** Copies every live denial of the database into Redis, then writes the marker; one at a time. */
  resync(): Promise<void> {
    this.resyncing ??= (async () => {
      try {
        const failuresBefore = this.writeFailures
        const rows = await this.db
          .selectFrom('revoked_tokens')
          .select(['jti', 'expires_at'])
          .where('expires_at', '>', new Date())
          .execute()
        await this.writeToRedis(
          rows.map((row) => ({ jti: row.jti, expiresAt: row.expires_at })),
          { alsoMarkSynced: true },
        )
        // A Redis write that failed after the read above may be missing from this copy.
        if (this.writeFailures === failuresBefore) this.redisBehind = false
        this.logger?.info({ denials: rows.length }, 'denylist: Redis resynced from the database')
      } catch (error) {
        this.logger?.warn({ err: (error as Error).message }, 'denylist: resync of Redis failed; will retry')
      } finally {
        this.resyncing = null
      }
    })()
    return this.resyncing
  }

  private async writeToRedis(
    tokens: DeniedToken[],
    options: { alsoMarkSynced?: boolean } = {},
  ): Promise<void> {
    const now = Date.now()
    const live = tokens.filter((t) => t.expiresAt.getTime() > now)
    if (live.length === 0 && !options.alsoMarkSynced) return
    const batch = this.redis.multi()
    for (const token of live) batch.set(keyOf(token.jti), '1', 'PX', token.expiresAt.getTime() - now)
    if (options.alsoMarkSynced) batch.set(SYNCED_KEY, new Date(now).toISOString())
    const results = await batch.exec()
    const failed = results?.find(([error]) => error)
    if (!results || failed) throw failed?.[0] ?? new Error('denylist write was discarded')
  }
}

/** Present only after a full copy of the database's denials: Redis is complete while it exists. */
const SYNCED_KEY = 'denylist-synced'

function keyOf(jti: string): string {
  return `denied-jti:${jti}`
}
