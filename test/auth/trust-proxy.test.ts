import { afterAll, beforeAll, expect, it } from 'vitest'
import { trustProxyOf } from '../../src/config.js'
import { createTestApp, type TestApp } from '../app.js'

let t: TestApp

beforeAll(async () => {
  t = await createTestApp({ env: { TRUST_PROXY: '1' } })
})
afterAll(() => t.close())

it('counts clients behind a trusted proxy by their X-Forwarded-For address', async () => {
  const balancer = '10.0.0.1'
  const refresh = (client: string) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      remoteAddress: balancer,
      headers: { 'x-forwarded-for': client },
      payload: { refreshToken: 'unknown' },
    })
  for (let i = 0; i < 10; i++) expect((await refresh('198.51.100.1')).statusCode).toBe(401)
  expect((await refresh('198.51.100.1')).statusCode).toBe(429)
  // Another client behind the same balancer has its own count.
  expect((await refresh('198.51.100.2')).statusCode).toBe(401)
})

it('reads TRUST_PROXY as nothing, true, a hop count or addresses', () => {
  expect(trustProxyOf({})).toBe(false)
  expect(trustProxyOf({ TRUST_PROXY: 'false' })).toBe(false)
  expect(trustProxyOf({ TRUST_PROXY: 'true' })).toBe(true)
  expect(trustProxyOf({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' })).toBe('10.0.0.0/8, 127.0.0.1')
  const twoHops = trustProxyOf({ TRUST_PROXY: '2' })
  expect(typeof twoHops).toBe('function')
  if (typeof twoHops === 'function') {
    expect(twoHops('10.0.0.1', 0)).toBe(true)
    expect(twoHops('10.0.0.2', 1)).toBe(true)
    expect(twoHops('10.0.0.3', 2)).toBe(false)
  }
})
