import { Type } from 'typebox'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../app.js'

let t: TestApp

beforeAll(async () => {
  t = await createTestApp({
    routes: (app) => {
      app.get(
        '/test/limited',
        {
          config: { access: 'public', rateLimit: { max: 2, timeWindow: 60_000 } },
          schema: { response: { 200: Type.Object({ ok: Type.Boolean() }) } },
        },
        async () => ({ ok: true }),
      )
    },
  })
})
afterAll(() => t.close())

it("turns the plugin's own 429 into a rate_limited problem with Retry-After", async () => {
  const call = () => t.app.inject({ method: 'GET', url: '/test/limited', remoteAddress: '192.0.2.44' })
  expect((await call()).statusCode).toBe(200)
  expect((await call()).statusCode).toBe(200)
  const limited = await call()
  expect(limited.statusCode).toBe(429)
  expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/)
  const retryAfter = Number(limited.headers['retry-after'])
  expect(retryAfter).toBeGreaterThan(0)
  expect(limited.json()).toMatchObject({ code: 'rate_limited', status: 429, retryAfter })
})
