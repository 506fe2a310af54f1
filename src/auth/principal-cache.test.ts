import { describe, expect, it } from 'vitest'
import type { EventEnvelope } from '../events/bus.js'
import type { Principal } from './principal.js'
import { PrincipalCache } from './principal-cache.js'

function fakeClock(start = 1_000_000) {
  let now = start
  return { now: () => now, advance: (ms: number) => (now += ms) }
}

const service = (id: string): Principal => ({ kind: 'api_key', id, userId: null, roles: ['service'] })

function user(opts: { userId?: string; sessionId?: string; tokenId: string; expiresAt?: Date }): Principal {
  const userId = opts.userId ?? 'u1'
  return {
    kind: 'user',
    id: userId,
    userId,
    roles: ['user'],
    ...(opts.sessionId ? { sessionId: opts.sessionId } : {}),
    tokenId: opts.tokenId,
    ...(opts.expiresAt ? { tokenExpiresAt: opts.expiresAt } : {}),
  }
}

function event(type: string, data: Record<string, unknown>): EventEnvelope {
  return {
    id: 'e1',
    type,
    version: 1,
    occurredAt: new Date().toISOString(),
    aggregate: { type, id: 'x' },
    data,
  }
}

describe('PrincipalCache', () => {
  it('answers what it was given until the TTL, then forgets it', () => {
    const clock = fakeClock()
    const cache = new PrincipalCache({ ttlSeconds: 1, now: clock.now })
    expect(cache.set('h1', service('k1'), cache.generation)).toBe(true)
    expect(cache.get('h1')).toMatchObject({ id: 'k1' })
    clock.advance(999)
    expect(cache.get('h1')).toBeDefined()
    clock.advance(1)
    expect(cache.get('h1')).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('never keeps a token past its own expiry', () => {
    const clock = fakeClock()
    const cache = new PrincipalCache({ ttlSeconds: 60, now: clock.now })
    cache.set('h', user({ tokenId: 't', expiresAt: new Date(clock.now() + 2_000) }), cache.generation)
    clock.advance(1_999)
    expect(cache.get('h')).toBeDefined()
    clock.advance(1)
    expect(cache.get('h')).toBeUndefined()
    // Already expired: not kept at all.
    expect(cache.set('h', user({ tokenId: 't', expiresAt: new Date(clock.now()) }), cache.generation)).toBe(
      false,
    )
  })

  it('is bounded, dropping the least recently used entry', () => {
    const cache = new PrincipalCache({ ttlSeconds: 60, maxEntries: 3 })
    for (const n of [1, 2, 3]) cache.set(`h${n}`, service(`k${n}`), cache.generation)
    cache.get('h1')
    cache.set('h4', service('k4'), cache.generation)
    expect(cache.size).toBe(3)
    expect([...cache.keys()].sort()).toEqual(['h1', 'h3', 'h4'])
    for (let n = 5; n < 1_000; n++) cache.set(`h${n}`, service(`k${n}`), cache.generation)
    expect(cache.size).toBe(3)
  })

  it('evicts by API key id, by session (every token of it) and by token id', () => {
    const cache = new PrincipalCache({ ttlSeconds: 60 })
    cache.set('key', service('k1'), cache.generation)
    cache.set('s1a', user({ sessionId: 's1', tokenId: 'a' }), cache.generation)
    cache.set('s1b', user({ sessionId: 's1', tokenId: 'b' }), cache.generation)
    cache.set('s2c', user({ sessionId: 's2', tokenId: 'c' }), cache.generation)
    cache.set('ext', user({ userId: 'u2', tokenId: 'd' }), cache.generation)

    cache.evictApiKey('k1')
    expect(cache.get('key')).toBeUndefined()
    cache.evictSession('s1')
    expect(cache.get('s1a')).toBeUndefined()
    expect(cache.get('s1b')).toBeUndefined()
    expect(cache.get('s2c')).toBeDefined()
    cache.evictTokens(['d'])
    expect(cache.get('ext')).toBeUndefined()
    cache.evictUser('u1')
    expect(cache.get('s2c')).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('applies the revocation events and ignores anything else', () => {
    const cache = new PrincipalCache({ ttlSeconds: 60 })
    cache.set('key', service('k1'), cache.generation)
    cache.set('sess', user({ sessionId: 's1', tokenId: 'a' }), cache.generation)
    cache.set('ext', user({ userId: 'u2', tokenId: 'd' }), cache.generation)
    cache.evictFor(event('transaction.posted', { apiKeyId: 'k1' }))
    cache.evictFor(event('api_key.revoked', { apiKeyId: 42 }))
    expect(cache.size).toBe(3)
    cache.evictFor(event('api_key.revoked', { apiKeyId: 'k1', revokedAt: '' }))
    cache.evictFor(event('session.revoked', { sessionId: 's1', userId: 'u1', tokenIds: ['a'] }))
    cache.evictFor(event('access_token.revoked', { userId: 'u2', tokenIds: ['d', 7] }))
    expect(cache.size).toBe(0)
  })

  it('does not put back an answer an eviction overtook, nor cache an evicted id for one TTL', () => {
    const clock = fakeClock()
    const cache = new PrincipalCache({ ttlSeconds: 5, now: clock.now })
    // A lookup began, the key was revoked meanwhile, then the lookup ended with the old row.
    const before = cache.generation
    cache.evictApiKey('k-other')
    expect(cache.set('h', service('k1'), before)).toBe(false)
    // The event came before the denylist write: the session is not cached again for a TTL.
    cache.evictSession('s1', ['a'])
    expect(cache.set('sess', user({ sessionId: 's1', tokenId: 'b' }), cache.generation)).toBe(false)
    expect(cache.set('tok', user({ tokenId: 'a' }), cache.generation)).toBe(false)
    expect(cache.set('other', user({ sessionId: 's2', tokenId: 'c' }), cache.generation)).toBe(true)
    clock.advance(5_000)
    expect(cache.set('sess', user({ sessionId: 's1', tokenId: 'b' }), cache.generation)).toBe(true)
  })

  it('hands out a frozen principal, so one caller cannot change it for the next', () => {
    const cache = new PrincipalCache({ ttlSeconds: 60 })
    cache.set('h', service('k1'), cache.generation)
    const cached = cache.get('h')!
    expect(Object.isFrozen(cached)).toBe(true)
    expect(Object.isFrozen(cached.roles)).toBe(true)
  })

  it('refuses a TTL of 0 (the caller turns the cache off instead)', () => {
    expect(() => new PrincipalCache({ ttlSeconds: 0 })).toThrow(/TTL/)
  })
})
