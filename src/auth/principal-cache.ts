import type { Logger } from 'pino'
import type { EventBus, EventEnvelope, Subscription } from '../events/bus.js'
import type { Principal } from './principal.js'

/**
 * Verified bearer credentials of this process, so a request with an API key skips its database
 * query and a request with an access token skips the signature check and the denylist lookup.
 *
 * - Keyed by the SHA-256 of the credential (`secretHash`), never the credential itself: a heap
 *   dump of the process holds no usable key or token.
 * - Only successes are kept: a wrong key costs its query every time, as before (caching refusals
 *   would let anyone fill the cache with garbage and push out the real entries).
 * - An entry lives `ttlSeconds` at most, and never past the token's own expiry: with no event at
 *   all (broker down, a process the relay does not reach) a revoked credential stops working
 *   within the TTL. Revocations evict at once: locally by the process that revokes, elsewhere
 *   through the `api_key.revoked`, `session.revoked` and `access_token.revoked` events
 *   (`followRevocations`).
 * - Bounded: past `maxEntries` the least recently used entry goes.
 *
 * Two races are closed here rather than by the callers:
 * - a lookup that started before an eviction and ends after it (it may have read the row before
 *   the revocation committed) must not put its answer back: `set` takes the `generation` read
 *   before the lookup and refuses when an eviction happened since;
 * - an event may reach another process before the revoking process has written the denylist
 *   (`session.revoked` is committed with the session; the token denials follow it): every evicted
 *   id is remembered for one TTL, and a principal carrying one is not cached again meanwhile,
 *   so it is checked against the denylist on every request until then.
 */
export interface PrincipalCacheOptions {
  ttlSeconds: number
  /** Default 10,000 entries (a few MB). */
  maxEntries?: number
  /** Milliseconds since the epoch; tests pass a fake clock. */
  now?: () => number
}

interface Entry {
  principal: Principal
  expiresAt: number
  /** The ids it can be evicted by: `api_key:<id>`, `session:<id>`, `token:<jti>`, `user:<id>`. */
  tags: string[]
}

export const DEFAULT_PRINCIPAL_CACHE_SIZE = 10_000

/** The events every API process evicts on; written by AuthService with the change they report. */
export const REVOCATION_EVENTS = ['api_key.revoked', 'session.revoked', 'access_token.revoked'] as const

export class PrincipalCache {
  private readonly entries = new Map<string, Entry>()
  private readonly byTag = new Map<string, Set<string>>()
  /** Evicted tags and until when a principal carrying one is not cached (insertion = expiry order). */
  private readonly tombstones = new Map<string, number>()
  private readonly ttlMs: number
  private readonly maxEntries: number
  private readonly now: () => number
  private evictions = 0

  constructor(options: PrincipalCacheOptions) {
    if (!(options.ttlSeconds > 0)) throw new Error('a principal cache needs a TTL above 0')
    this.ttlMs = options.ttlSeconds * 1000
    this.maxEntries = options.maxEntries ?? DEFAULT_PRINCIPAL_CACHE_SIZE
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1)
      throw new Error('maxEntries must be a positive integer')
    this.now = options.now ?? Date.now
  }

  get size(): number {
    return this.entries.size
  }

  /** The keys held (credential hashes), for tests that check no raw credential is among them. */
  keys(): IterableIterator<string> {
    return this.entries.keys()
  }

  /** Read before a lookup and passed to `set`, which refuses if anything was evicted in between. */
  get generation(): number {
    return this.evictions
  }

  get(key: string): Principal | undefined {
    const entry = this.entries.get(key)
    if (!entry) return undefined
    if (entry.expiresAt <= this.now()) {
      this.remove(key, entry)
      return undefined
    }
    // Most recently used last: Map keeps insertion order, so the first key is the LRU one.
    this.entries.delete(key)
    this.entries.set(key, entry)
    return entry.principal
  }

  /** Remembers a verified principal; false when it was not kept (an eviction overtook the lookup). */
  set(key: string, principal: Principal, generation: number): boolean {
    if (generation !== this.evictions) return false
    const now = this.now()
    const tags = tagsOf(principal)
    this.dropExpiredTombstones(now)
    if (tags.some((tag) => this.tombstones.has(tag))) return false
    const tokenExpiry = principal.tokenExpiresAt?.getTime() ?? Number.POSITIVE_INFINITY
    const expiresAt = Math.min(now + this.ttlMs, tokenExpiry)
    if (expiresAt <= now) return false
    const previous = this.entries.get(key)
    if (previous) this.remove(key, previous)
    // Callers share the cached object: frozen, so none of them can change it for the others.
    const frozen = Object.freeze({ ...principal, roles: Object.freeze([...principal.roles]) }) as Principal
    this.entries.set(key, { principal: frozen, expiresAt, tags })
    for (const tag of tags) {
      let keys = this.byTag.get(tag)
      if (!keys) {
        keys = new Set()
        this.byTag.set(tag, keys)
      }
      keys.add(key)
    }
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string
      this.remove(oldest, this.entries.get(oldest)!)
    }
    return true
  }

  evictApiKey(apiKeyId: string): void {
    this.evict([`api_key:${apiKeyId}`])
  }

  /** Every token of the session, and the listed ones (a session's tokens carry its id anyway). */
  evictSession(sessionId: string, tokenIds: readonly string[] = []): void {
    this.evict([`session:${sessionId}`, ...tokenIds.map((jti) => `token:${jti}`)])
  }

  evictTokens(tokenIds: readonly string[]): void {
    this.evict(tokenIds.map((jti) => `token:${jti}`))
  }

  /**
   * Every principal of a user: for a change of their roles (external tokens take the roles of the
   * local user row). No API changes a user's roles today; whatever comes to do it calls this and
   * writes an event for the other processes.
   */
  evictUser(userId: string): void {
    this.evict([`user:${userId}`])
  }

  /** Applies a revocation event; other types and malformed data are ignored (never throws). */
  evictFor(event: EventEnvelope): void {
    const data = event.data
    switch (event.type) {
      case 'api_key.revoked':
        if (typeof data.apiKeyId === 'string') this.evictApiKey(data.apiKeyId)
        return
      case 'session.revoked':
        if (typeof data.sessionId === 'string') this.evictSession(data.sessionId, stringsOf(data.tokenIds))
        return
      case 'access_token.revoked':
        this.evictTokens(stringsOf(data.tokenIds))
        return
    }
  }

  private evict(tags: string[]): void {
    this.evictions += 1
    const now = this.now()
    for (const tag of tags) {
      // Re-inserted so the map stays in expiry order, which dropExpiredTombstones relies on.
      this.tombstones.delete(tag)
      this.tombstones.set(tag, now + this.ttlMs)
      for (const key of [...(this.byTag.get(tag) ?? [])]) {
        const entry = this.entries.get(key)
        if (entry) this.remove(key, entry)
      }
    }
    // Revocations are rare; a flood of them must not grow memory without bound either.
    while (this.tombstones.size > this.maxEntries) {
      this.tombstones.delete(this.tombstones.keys().next().value as string)
    }
  }

  private dropExpiredTombstones(now: number): void {
    for (const [tag, until] of this.tombstones) {
      if (until > now) return
      this.tombstones.delete(tag)
    }
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key)
    for (const tag of entry.tags) {
      const keys = this.byTag.get(tag)
      if (!keys) continue
      keys.delete(key)
      if (keys.size === 0) this.byTag.delete(tag)
    }
  }
}

function tagsOf(principal: Principal): string[] {
  if (principal.kind === 'api_key') return [`api_key:${principal.id}`]
  const tags: string[] = []
  if (principal.userId) tags.push(`user:${principal.userId}`)
  if (principal.sessionId) tags.push(`session:${principal.sessionId}`)
  if (principal.tokenId) tags.push(`token:${principal.tokenId}`)
  return tags
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []
}

/**
 * Subscribes this process to the revocation events, on a subscription of its own (`broadcast`:
 * every API process gets every event; on RabbitMQ an exclusive queue that goes away with the
 * process). Events missed while the broker is away are not replayed to it: the TTL bounds them.
 */
export function followRevocations(
  bus: EventBus,
  cache: PrincipalCache,
  logger: Logger,
): Promise<Subscription> {
  return bus.subscribe(
    'principal-cache',
    [...REVOCATION_EVENTS],
    async (event) => {
      cache.evictFor(event)
      logger.debug({ type: event.type, eventId: event.id }, 'principal cache: evicted on a revocation')
    },
    { broadcast: true },
  )
}
