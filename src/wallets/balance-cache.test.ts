import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../config.js'
import { createLogger } from '../logger.js'
import {
  type CachedWallet,
  cachedFromCommitted,
  deserializeWallet,
  MemoryBalanceCache,
  openBalanceCache,
  serializeWallet,
  servableFromCache,
} from './balance-cache.js'

function wallet(overrides: Partial<CachedWallet> = {}): CachedWallet {
  return {
    id: '0190a0a0-0000-7000-8000-000000000001',
    user_id: '0190a0a0-0000-7000-8000-0000000000aa',
    currency: 'USD',
    balance: 1000n,
    pending: 0n,
    status: 'active',
    version: 3n,
    created_at: new Date('2026-01-01T00:00:00.123Z'),
    updated_at: new Date('2026-01-02T00:00:00.456Z'),
    holdsExpireAt: null,
    ...overrides,
  }
}

describe('MemoryBalanceCache', () => {
  it('keeps the newest version: an older put never replaces a newer entry, an equal one does', async () => {
    const cache = new MemoryBalanceCache(60_000)
    await cache.put([wallet({ version: 5n, balance: 500n })])
    await cache.put([wallet({ version: 4n, balance: 400n })])
    expect((await cache.get(wallet().id))?.balance).toBe(500n)
    await cache.put([wallet({ version: 5n, balance: 500n, pending: 10n, holdsExpireAt: null })])
    expect((await cache.get(wallet().id))?.pending).toBe(10n)
    await cache.put([wallet({ version: 6n, balance: 600n })])
    expect((await cache.get(wallet().id))?.balance).toBe(600n)
  })

  it('forgets an entry after its TTL, and then takes any version again', async () => {
    let now = 1_000
    const cache = new MemoryBalanceCache(500, 10, () => now)
    await cache.put([wallet({ version: 9n })])
    now += 499
    expect(await cache.get(wallet().id)).not.toBeNull()
    now += 1
    expect(await cache.get(wallet().id)).toBeNull()
    await cache.put([wallet({ version: 9n })])
    now += 600
    await cache.put([wallet({ version: 2n })])
    expect((await cache.get(wallet().id))?.version).toBe(2n)
  })

  it('is bounded: the least recently used wallet goes first', async () => {
    const cache = new MemoryBalanceCache(60_000, 2)
    const a = wallet({ id: 'a' })
    const b = wallet({ id: 'b' })
    const c = wallet({ id: 'c' })
    await cache.put([a, b])
    await cache.get('a')
    await cache.put([c])
    expect(await cache.get('a')).not.toBeNull()
    expect(await cache.get('b')).toBeNull()
    expect(await cache.get('c')).not.toBeNull()
  })
})

describe('servableFromCache', () => {
  it('serves a wallet with nothing held, or whose first hold expiry is ahead', () => {
    const now = Date.parse('2026-03-01T00:00:00Z')
    expect(servableFromCache(wallet(), now)).toBe(true)
    expect(servableFromCache(wallet({ pending: 5n, holdsExpireAt: null }), now)).toBe(true)
    expect(servableFromCache(wallet({ pending: 5n, holdsExpireAt: new Date(now + 1) }), now)).toBe(true)
  })

  it('sends to the database a wallet whose hold may be overdue or whose holds are unknown', () => {
    const now = Date.parse('2026-03-01T00:00:00Z')
    expect(servableFromCache(wallet({ pending: 5n, holdsExpireAt: new Date(now) }), now)).toBe(false)
    expect(servableFromCache(wallet({ pending: 5n, holdsExpireAt: 'unknown' }), now)).toBe(false)
  })
})

describe('the stored form', () => {
  it('round-trips bigints and instants exactly', () => {
    for (const original of [
      wallet({ balance: 10n ** 37n, pending: 7n, holdsExpireAt: new Date('2026-05-05T05:05:05.005Z') }),
      wallet({ pending: 7n, holdsExpireAt: 'unknown', status: 'frozen' }),
      wallet(),
    ]) {
      expect(deserializeWallet(serializeWallet(original))).toEqual(original)
    }
  })

  it('marks the holds of a wallet written by a posting as unknown only while money is held', () => {
    const committed = {
      id: 'w',
      userId: 'u',
      currency: 'EUR',
      balance: 10n,
      pending: 0n,
      status: 'active' as const,
      version: 1n,
      createdAt: new Date(0),
      updatedAt: new Date(1),
    }
    expect(cachedFromCommitted(committed).holdsExpireAt).toBeNull()
    expect(cachedFromCommitted({ ...committed, pending: 1n }).holdsExpireAt).toBe('unknown')
  })
})

describe('choosing the cache', () => {
  const logger = createLogger(loadConfig({ LOG_LEVEL: 'silent' }))

  it('auto: memory on the embedded database, none on PostgreSQL without Redis', async () => {
    const config = loadConfig({})
    expect(await openBalanceCache(config, 'pglite', logger)).toBeInstanceOf(MemoryBalanceCache)
    expect(await openBalanceCache(config, 'postgres', logger)).toBeNull()
    expect(await openBalanceCache(loadConfig({ BALANCE_CACHE: 'off' }), 'pglite', logger)).toBeNull()
  })

  it('refuses BALANCE_CACHE=redis without REDIS_URL at start-up', async () => {
    expect(() => loadConfig({ BALANCE_CACHE: 'redis' })).toThrow(ConfigError)
    await expect(
      openBalanceCache({ ...loadConfig({}), BALANCE_CACHE: 'redis' }, 'postgres', logger),
    ).rejects.toThrow(ConfigError)
  })
})
