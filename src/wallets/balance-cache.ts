import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { ConfigError } from '../config.js'
import type { CommittedWallet } from '../ledger/wallet-changes.js'
import type { WalletRow } from './wallets.repository.js'

/**
 * A wallet as the balance cache keeps it: the row, its version, and when its first pending hold
 * runs out (null: none of them expires; 'unknown': written from the posting path, which does not
 * read the holds, while money is held). A reader goes to the database for a wallet whose hold
 * may be overdue, so lazy expiry still happens.
 */
export interface CachedWallet extends WalletRow {
  holdsExpireAt: Date | null | 'unknown'
}

/**
 * Current wallets in front of the primary database. Never throws: trouble with its store is a
 * miss on read, and on write the wallet is kept out of the cache until its entry is gone.
 */
export interface BalanceCache {
  get(walletId: string): Promise<CachedWallet | null>
  /** Keeps each wallet unless a newer version of it is already there. */
  put(wallets: CachedWallet[]): Promise<void>
  close(): Promise<void>
}

/** What a committed posting or status change tells the cache: holds are unknown while money is held. */
export function cachedFromCommitted(wallet: CommittedWallet): CachedWallet {
  return {
    id: wallet.id,
    user_id: wallet.userId,
    currency: wallet.currency,
    balance: wallet.balance,
    pending: wallet.pending,
    status: wallet.status,
    version: wallet.version,
    created_at: wallet.createdAt,
    updated_at: wallet.updatedAt,
    holdsExpireAt: wallet.pending > 0n ? 'unknown' : null,
  }
}

/** Whether a cached wallet may answer a read now: not while one of its holds may be overdue. */
export function servableFromCache(wallet: CachedWallet, now: number = Date.now()): boolean {
  if (wallet.pending === 0n) return true
  if (wallet.holdsExpireAt === 'unknown') return false
  return wallet.holdsExpireAt === null || wallet.holdsExpireAt.getTime() > now
}

interface StoredWallet {
  id: string
  userId: string
  currency: string
  balance: string
  pending: string
  status: WalletRow['status']
  version: string
  createdAt: string
  updatedAt: string
  holdsExpireAt: string | null
}

export function serializeWallet(wallet: CachedWallet): string {
  const stored: StoredWallet = {
    id: wallet.id,
    userId: wallet.user_id,
    currency: wallet.currency,
    balance: wallet.balance.toString(),
    pending: wallet.pending.toString(),
    status: wallet.status,
    version: wallet.version.toString(),
    createdAt: wallet.created_at.toISOString(),
    updatedAt: wallet.updated_at.toISOString(),
    holdsExpireAt:
      wallet.holdsExpireAt instanceof Date ? wallet.holdsExpireAt.toISOString() : wallet.holdsExpireAt,
  }
  return JSON.stringify(stored)
}

export function deserializeWallet(text: string): CachedWallet {
  const stored = JSON.parse(text) as StoredWallet
  return {
    id: stored.id,
    user_id: stored.userId,
    currency: stored.currency,
    balance: BigInt(stored.balance),
    pending: BigInt(stored.pending),
    status: stored.status,
    version: BigInt(stored.version),
    created_at: new Date(stored.createdAt),
    updated_at: new Date(stored.updatedAt),
    holdsExpireAt:
      stored.holdsExpireAt === null || stored.holdsExpireAt === 'unknown'
        ? stored.holdsExpireAt
        : new Date(stored.holdsExpireAt),
  }
}

export const MEMORY_CACHE_SIZE = 100_000

/**
 * One process's cache (the embedded shape, where one process holds the database): a Map in
 * insertion order used as an LRU, with the same version rule and TTL as Redis.
 */
export class MemoryBalanceCache implements BalanceCache {
  private readonly entries = new Map<string, { wallet: CachedWallet; expiresAt: number }>()

  constructor(
    private readonly ttlMs: number,
    private readonly capacity: number = MEMORY_CACHE_SIZE,
    private readonly now: () => number = Date.now,
  ) {}

  async get(walletId: string): Promise<CachedWallet | null> {
    const entry = this.entries.get(walletId)
    if (!entry) return null
    this.entries.delete(walletId)
    if (entry.expiresAt <= this.now()) return null
    this.entries.set(walletId, entry)
    return entry.wallet
  }

  async put(wallets: CachedWallet[]): Promise<void> {
    for (const wallet of wallets) {
      const stored = this.entries.get(wallet.id)
      if (stored && stored.expiresAt > this.now() && stored.wallet.version > wallet.version) continue
      this.entries.delete(wallet.id)
      this.entries.set(wallet.id, { wallet, expiresAt: this.now() + this.ttlMs })
      if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!)
    }
  }

  async close(): Promise<void> {
    this.entries.clear()
  }
}

/**
 * Writes the wallet unless the stored one has a greater version; an equal version replaces it
 * (a read from the database then adds what it knows of the holds). The TTL restarts on each write.
 */
const PUT_IF_NOT_OLDER = `
local stored = redis.call('HGET', KEYS[1], 'v')
if stored and tonumber(stored) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'w', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`

interface BalanceCacheCommands {
  putWalletIfNotOlder(key: string, version: string, wallet: string, ttlMs: string): Promise<number>
}

export interface RedisBalanceCacheOptions {
  url: string
  keyPrefix: string
  ttlSeconds: number
  timeoutMs: number
  logger: Logger
  /** Wallets remembered as possibly stale in Redis; past it, every entry of this deployment is dropped. */
  suspectCapacity?: number
  repairIntervalMs?: number
}

const DEFAULT_SUSPECT_CAPACITY = 100_000
const REPAIR_BATCH = 500

/**
 * The cache of the services shape, shared by every API process. Its own connection, so that a
 * bound of BALANCE_CACHE_TIMEOUT_MS (far below the rate limits' and denylist's) applies to it
 * alone, and without an offline queue: with Redis down a command fails at once instead of waiting
 * for the reconnection, and the read goes to the database.
 *
 * A write that failed may have left an older version in Redis (or may yet land: a timed-out
 * command is not a failed one). The wallet goes on a list of suspects, whose reads and writes
 * skip Redis, and a repair loop deletes their entries once Redis answers; then they are cached
 * again. Too many suspects to remember: every entry under the key prefix is deleted instead.
 */
export class RedisBalanceCache implements BalanceCache {
  private readonly redis: Redis & BalanceCacheCommands
  private readonly ttlMs: number
  /** Wallet id → how many times it was marked, so a repair clears only marks it has covered. */
  private readonly suspects = new Map<string, number>()
  private readonly suspectCapacity: number
  /** Too many suspects were lost track of: skip Redis until every entry is deleted. */
  private dropEverything = false
  private repairTimer: NodeJS.Timeout | null = null
  private repairing = false
  private outage = false
  private closed = false

  constructor(private readonly options: RedisBalanceCacheOptions) {
    this.ttlMs = options.ttlSeconds * 1000
    this.suspectCapacity = options.suspectCapacity ?? DEFAULT_SUSPECT_CAPACITY
    this.redis = new Redis(options.url, {
      keyPrefix: options.keyPrefix,
      commandTimeout: options.timeoutMs,
      connectTimeout: Math.max(options.timeoutMs * 20, 1000),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      lazyConnect: true,
    }) as Redis & BalanceCacheCommands
    this.redis.defineCommand('putWalletIfNotOlder', { numberOfKeys: 1, lua: PUT_IF_NOT_OLDER })
    // Connection errors are reported once per outage by noteFailure.
    this.redis.on('error', () => {})
    this.redis.on('ready', () => this.scheduleRepair(0))
  }

  /** Connects, waiting at most about the connect timeout; Redis down at start-up is not fatal. */
  async connect(): Promise<void> {
    await this.redis.connect().catch((error: unknown) => this.noteFailure(error))
  }

  private key(walletId: string): string {
    return `wallet:${walletId}`
  }

  private skips(walletId: string): boolean {
    return this.dropEverything || this.suspects.has(walletId)
  }

  async get(walletId: string): Promise<CachedWallet | null> {
    if (this.skips(walletId) || this.redis.status !== 'ready') return null
    try {
      const text = await this.redis.hget(this.key(walletId), 'w')
      // A mark set while the read was on its way means the entry may be older than the database.
      this.answered()
      if (text === null || this.skips(walletId)) return null
      return deserializeWallet(text)
    } catch (error) {
      this.noteFailure(error)
      return null
    }
  }

  async put(wallets: CachedWallet[]): Promise<void> {
    // A suspect's entry is about to be deleted: writing it would only be deleted with it.
    const writable = wallets.filter((wallet) => !this.skips(wallet.id))
    if (writable.length === 0) return
    if (this.redis.status !== 'ready') {
      for (const wallet of writable) this.markSuspect(wallet.id)
      this.noteFailure(new Error(`redis connection is ${this.redis.status}`))
      return
    }
    const ttl = String(this.ttlMs)
    let failed = false
    await Promise.all(
      writable.map((wallet) =>
        this.redis
          .putWalletIfNotOlder(this.key(wallet.id), wallet.version.toString(), serializeWallet(wallet), ttl)
          .catch((error: unknown) => {
            failed = true
            this.markSuspect(wallet.id)
            this.noteFailure(error)
          }),
      ),
    )
    if (!failed) this.answered()
  }

  /** Redis answered: an outage without anything left to repair is over. */
  private answered(): void {
    if (this.outage && this.suspects.size === 0 && !this.dropEverything) this.recovered()
  }

  private markSuspect(walletId: string): void {
    if (this.dropEverything) return
    if (!this.suspects.has(walletId) && this.suspects.size >= this.suspectCapacity) {
      this.suspects.clear()
      this.dropEverything = true
    } else {
      this.suspects.set(walletId, (this.suspects.get(walletId) ?? 0) + 1)
    }
    this.scheduleRepair(this.options.repairIntervalMs ?? 1000)
  }

  private noteFailure(error: unknown): void {
    if (this.outage || this.closed) return
    this.outage = true
    this.options.logger.warn(
      { err: error instanceof Error ? error.message : String(error) },
      'balance cache unavailable; wallet reads go to the database',
    )
  }

  private scheduleRepair(delayMs: number): void {
    if (this.closed || this.repairTimer) return
    if (this.suspects.size === 0 && !this.dropEverything) {
      if (this.outage && this.redis.status === 'ready') this.recovered()
      return
    }
    this.repairTimer = setTimeout(() => {
      this.repairTimer = null
      void this.repair()
    }, delayMs)
    this.repairTimer.unref()
  }

  private recovered(): void {
    this.outage = false
    this.options.logger.info('balance cache available again')
  }

  /** Deletes the entries of suspects until none is left; stops at the first failure and retries later. */
  private async repair(): Promise<void> {
    if (this.repairing || this.closed) return
    this.repairing = true
    try {
      if (this.redis.status !== 'ready') return
      if (this.dropEverything) {
        await this.deleteEveryEntry()
        this.dropEverything = false
      }
      while (this.suspects.size > 0) {
        const batch = [...this.suspects].slice(0, REPAIR_BATCH)
        await this.redis.unlink(...batch.map(([walletId]) => this.key(walletId)))
        for (const [walletId, marks] of batch) {
          if (this.suspects.get(walletId) === marks) this.suspects.delete(walletId)
        }
      }
    } catch (error) {
      this.noteFailure(error)
    } finally {
      this.repairing = false
      this.scheduleRepair(this.options.repairIntervalMs ?? 1000)
    }
  }

  private async deleteEveryEntry(): Promise<void> {
    const prefix = this.options.keyPrefix
    let cursor = '0'
    do {
      // SCAN sees whole key names; UNLINK gets the prefix added again, so it is cut off here.
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${prefix}wallet:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await this.redis.unlink(...keys.map((key) => key.slice(prefix.length)))
    } while (cursor !== '0')
  }

  /** How many wallets are waiting for their entry to be deleted (for tests and health details). */
  get suspectCount(): number {
    return this.dropEverything ? Number.POSITIVE_INFINITY : this.suspects.size
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.repairTimer) clearTimeout(this.repairTimer)
    await this.redis.quit().catch(() => this.redis.disconnect())
  }
}

export interface BalanceCacheSettings {
  BALANCE_CACHE: 'auto' | 'redis' | 'memory' | 'off'
  BALANCE_CACHE_TTL_SECONDS: number
  BALANCE_CACHE_TIMEOUT_MS: number
  REDIS_URL?: string
  REDIS_KEY_PREFIX: string
}

/**
 * The cache BALANCE_CACHE asks for. `auto`: Redis when there is one; the memory cache with the
 * embedded database, the one process that writes it (docs/performance.md has the measurement);
 * none on PostgreSQL without Redis, where other processes' writes would not reach a memory cache.
 */
export async function openBalanceCache(
  settings: BalanceCacheSettings,
  databaseKind: 'pglite' | 'postgres',
  logger: Logger,
): Promise<BalanceCache | null> {
  const choice =
    settings.BALANCE_CACHE !== 'auto'
      ? settings.BALANCE_CACHE
      : settings.REDIS_URL
        ? 'redis'
        : databaseKind === 'pglite'
          ? 'memory'
          : 'off'
  if (choice === 'off') return null
  if (choice === 'memory') {
    if (databaseKind !== 'pglite') {
      logger.warn("BALANCE_CACHE=memory on PostgreSQL: only this process's writes reach its cache")
    }
    return new MemoryBalanceCache(settings.BALANCE_CACHE_TTL_SECONDS * 1000)
  }
  if (!settings.REDIS_URL) throw new ConfigError(['BALANCE_CACHE=redis: needs REDIS_URL'])
  const cache = new RedisBalanceCache({
    url: settings.REDIS_URL,
    keyPrefix: settings.REDIS_KEY_PREFIX,
    ttlSeconds: settings.BALANCE_CACHE_TTL_SECONDS,
    timeoutMs: settings.BALANCE_CACHE_TIMEOUT_MS,
    logger,
  })
  await cache.connect()
  return cache
}
