import { webcrypto } from 'node:crypto'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { filenameOfContentDisposition } from '../../packages/client/src/downloads.js'
import { newIdempotencyKey } from '../../packages/client/src/idempotency-key.js'
import {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  isSafeToRetry,
  retryAfterMs,
  retryPolicyOf,
} from '../../packages/client/src/retry-policy.js'

describe('backoff', () => {
  it('doubles from the base delay up to the cap, with half of each delay random', () => {
    const policy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 500 }
    expect([1, 2, 3, 4].map((retry) => backoffDelayMs(policy, retry, () => 0))).toEqual([50, 100, 200, 250])
    expect([1, 2, 3, 4].map((retry) => backoffDelayMs(policy, retry, () => 1))).toEqual([100, 200, 400, 500])
  })

  it('defaults to 3 attempts from 100 ms to 2 s, and refuses settings that make no sense', () => {
    expect(retryPolicyOf(undefined)).toEqual(DEFAULT_RETRY_POLICY)
    expect(DEFAULT_RETRY_POLICY).toEqual({ attempts: 3, baseDelayMs: 100, maxDelayMs: 2000 })
    expect(retryPolicyOf(false).attempts).toBe(1)
    expect(() => retryPolicyOf({ attempts: 0 })).toThrow(RangeError)
    expect(() => retryPolicyOf({ baseDelayMs: 500, maxDelayMs: 100 })).toThrow(RangeError)
  })
})

describe('Retry-After', () => {
  it('reads delta-seconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(retryAfterMs('2', now)).toBe(2000)
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:03 GMT', now)).toBe(3000)
    expect(retryAfterMs('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0)
    expect(retryAfterMs(null, now)).toBeNull()
    expect(retryAfterMs('soon', now)).toBeNull()
  })
})

describe('what is safe to send again', () => {
  const request = (method: string, headers: Record<string, string> = {}) =>
    new Request('http://coffer.test/api/v1/x', { method, headers })

  it('reads, PUT and DELETE always; POST and PATCH only with an Idempotency-Key', () => {
    expect(['GET', 'HEAD', 'PUT', 'DELETE'].map((method) => isSafeToRetry(request(method)))).toEqual([
      true,
      true,
      true,
      true,
    ])
    expect(isSafeToRetry(request('POST'))).toBe(false)
    expect(isSafeToRetry(request('PATCH'))).toBe(false)
    expect(isSafeToRetry(request('POST', { 'idempotency-key': 'k-1' }))).toBe(true)
  })
})

describe('Content-Disposition', () => {
  it('prefers the UTF-8 filename* and falls back to filename', () => {
    expect(filenameOfContentDisposition('attachment; filename="statement-EUR-2026-01.csv"')).toBe(
      'statement-EUR-2026-01.csv',
    )
    expect(
      filenameOfContentDisposition(
        `attachment; filename="Auszug.pdf"; filename*=UTF-8''Kontoauszug%20M%C3%A4rz.pdf`,
      ),
    ).toBe('Kontoauszug März.pdf')
    expect(filenameOfContentDisposition('inline; filename=plain.pdf')).toBe('plain.pdf')
    expect(filenameOfContentDisposition('attachment')).toBeNull()
    expect(filenameOfContentDisposition(null)).toBeNull()
  })
})

describe('idempotency keys', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
  })

  it('are version 4 UUIDs, also where the platform lacks randomUUID (plain-http pages)', () => {
    const uuidV4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
    expect(newIdempotencyKey()).toMatch(uuidV4)
    vi.stubGlobal('crypto', {
      getRandomValues: (array: Uint8Array) => webcrypto.getRandomValues(array),
    })
    const keys = new Set(Array.from({ length: 50 }, () => newIdempotencyKey()))
    expect(keys.size).toBe(50)
    for (const key of keys) expect(key).toMatch(uuidV4)
  })
})
