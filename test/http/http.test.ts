import { Writable } from 'node:stream'
import { Validator } from '@seriousme/openapi-schema-validator'
import { Type } from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/http/app-type.js'
import { createTestApp, type TestApp } from '../app.js'

interface InjectedResponse {
  statusCode: number
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

interface ProblemBody {
  type: string
  title: string
  status: number
  detail: string
  code: string
  requestId: string
  [member: string]: unknown
}

interface LogLine {
  level: number
  msg?: string
  requestId?: string
  req?: unknown
  res?: unknown
  err?: { message?: string; stack?: string }
}

const GENERATED_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** Asserts the RFC 9457 shape every error shares and returns the body for the specifics. */
function expectProblem(response: InjectedResponse, status: number, code: string): ProblemBody {
  expect(response.statusCode).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = JSON.parse(response.body) as ProblemBody
  expect(body).toMatchObject({ type: `urn:coffer:problem:${code}`, status, code })
  expect(body.title).toEqual(expect.any(String))
  expect(body.title).not.toBe('')
  expect(body.detail).toEqual(expect.any(String))
  expect(body.detail).not.toBe('')
  expect(body.requestId).toBe(response.headers['x-request-id'])
  expect(body.requestId).not.toBe('')
  return body
}

const TransferProbe = Type.Object(
  { amount: Type.String({ pattern: '^[0-9]+$' }) },
  { additionalProperties: false },
)

/** Routes that exist only in this file, to reach the error paths no real route takes on purpose. */
function addProbeRoutes(app: App) {
  app.post(
    '/test/transfers',
    { config: { access: 'public' }, schema: { body: TransferProbe, response: { 200: TransferProbe } } },
    async (request) => request.body,
  )
  app.get('/test/boom', { config: { access: 'public' } }, async () => {
    throw new Error('secret internals')
  })
}

describe('HTTP conventions', () => {
  let testApp: TestApp
  let app: App
  const logLines: LogLine[] = []

  beforeAll(async () => {
    const logStream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (line.trim() !== '') logLines.push(JSON.parse(line) as LogLine)
        }
        done()
      },
    })
    testApp = await createTestApp({ routes: addProbeRoutes, env: { LOG_LEVEL: 'info' }, logStream })
    app = testApp.app
  })

  afterAll(async () => {
    await testApp?.close()
  })

  describe('errors are problem+json', () => {
    it('answers an unknown path with 404 not_found', async () => {
      const response = await app.inject({ method: 'GET', url: '/no/such/path?secret=1' })
      const problem = expectProblem(response, 404, 'not_found')
      expect(problem.title).toBe('Not found')
      expect(problem.detail).toContain('/no/such/path')
    })

    it('answers a broken JSON body with 400 malformed_body', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/test/transfers',
        headers: { 'content-type': 'application/json' },
        payload: '{"amount": "10',
      })
      expectProblem(response, 400, 'malformed_body')
    })

    it('answers a body that breaks the route schema with 400 invalid_request and the failures', async () => {
      const valid = await app.inject({ method: 'POST', url: '/test/transfers', payload: { amount: '10' } })
      expect(valid.statusCode).toBe(200)
      expect(valid.json()).toEqual({ amount: '10' })

      const response = await app.inject({ method: 'POST', url: '/test/transfers', payload: { amount: 10 } })
      const problem = expectProblem(response, 400, 'invalid_request')
      expect(problem.errors).toEqual(expect.any(Array))
      expect(problem.errors).not.toHaveLength(0)
    })

    it('answers an unsupported content type with 415 unsupported_media_type', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/test/transfers',
        headers: { 'content-type': 'application/xml' },
        payload: '<amount>10</amount>',
      })
      expectProblem(response, 415, 'unsupported_media_type')
    })

    it('answers an uncaught exception with 500 internal_error without internals, and logs the stack', async () => {
      const response = await app.inject({ method: 'GET', url: '/test/boom' })
      const problem = expectProblem(response, 500, 'internal_error')
      expect(response.body).not.toContain('secret internals')
      expect(response.body).not.toMatch(/\bat .+:\d+:\d+/)
      expect(problem).not.toHaveProperty('stack')

      const logged = () => logLines.find((line) => line.requestId === problem.requestId && line.err)
      await expect.poll(logged).toBeDefined()
      expect(logged()?.err?.stack).toContain('secret internals')
    })
  })

  describe('request ids', () => {
    it('honours X-Request-Id in the header and the body', async () => {
      const response = await app.inject({
        method: 'GET',
        url: '/no/such/path',
        headers: { 'x-request-id': 'abc' },
      })
      expect(response.headers['x-request-id']).toBe('abc')
      expect(expectProblem(response, 404, 'not_found').requestId).toBe('abc')
    })

    it('generates a fresh id for each request that brings none', async () => {
      const first = await app.inject({ method: 'GET', url: '/no/such/path' })
      const second = await app.inject({ method: 'GET', url: '/no/such/path' })
      expect(first.headers['x-request-id']).toMatch(GENERATED_ID)
      expect(second.headers['x-request-id']).toMatch(GENERATED_ID)
      expect(first.headers['x-request-id']).not.toBe(second.headers['x-request-id'])
      expect(expectProblem(first, 404, 'not_found').requestId).toBe(first.headers['x-request-id'])
    })

    it.each([
      ['too long', 'a'.repeat(300)],
      ['with spaces', 'abc def'],
      ['with a newline', 'abc\ninjected: yes'],
      ['with markup', '<script>'],
    ])('replaces an id %s', async (_case, hostile) => {
      const response = await app.inject({
        method: 'GET',
        url: '/no/such/path',
        headers: { 'x-request-id': hostile },
      })
      expect(response.headers['x-request-id']).toMatch(GENERATED_ID)
      expect(expectProblem(response, 404, 'not_found').requestId).toBe(response.headers['x-request-id'])
    })

    it('stamps the id on every log line of the request', async () => {
      const requestId = 'trace-me-1'
      const response = await app.inject({
        method: 'GET',
        url: '/health/live',
        headers: { 'x-request-id': requestId },
      })
      expect(response.statusCode).toBe(200)
      const ofRequest = () => logLines.filter((line) => line.requestId === requestId).map((line) => line.msg)
      await expect.poll(ofRequest).toEqual(['incoming request', 'request completed'])
      const unstamped = logLines.filter(
        (line) => (line.req || line.res) && typeof line.requestId !== 'string',
      )
      expect(unstamped).toEqual([])
    })
  })

  describe('API description', () => {
    it('serves OpenAPI 3.1 at /openapi.json, generated from the route schemas', async () => {
      const response = await app.inject({ method: 'GET', url: '/openapi.json' })
      expect(response.statusCode).toBe(200)
      const document = response.json<{ openapi: string; paths: Record<string, unknown> }>()
      expect(document.openapi).toMatch(/^3\.1\./)
      expect(document.paths).toHaveProperty(['/health/ready', 'get'])
      expect(document.paths).toHaveProperty(['/test/transfers', 'post', 'requestBody'])
      // Every route of the app, money routes included, makes a document the 3.1 schema accepts.
      const validation = await new Validator().validate(response.json())
      expect(validation.errors).toBeUndefined()
      expect(validation.valid).toBe(true)
      expect(document.paths).toHaveProperty(['/api/v1/transfers', 'post'])
    })

    it('serves Swagger UI at /docs', async () => {
      const response = await app.inject({ method: 'GET', url: '/docs/' })
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toMatch(/^text\/html/)
      expect(response.body).toMatch(/swagger/i)
    })
  })

  describe('health', () => {
    it('answers /health/live', async () => {
      const response = await app.inject({ method: 'GET', url: '/health/live' })
      expect(response.statusCode).toBe(200)
      expect(response.json()).toEqual({ status: 'up' })
    })

    it('answers /health/ready while the database answers', async () => {
      const response = await app.inject({ method: 'GET', url: '/health/ready' })
      expect(response.statusCode).toBe(200)
      expect(response.json()).toEqual({ status: 'up' })
    })

    it('lists the database with its status and latency at /health', async () => {
      const response = await app.inject({ method: 'GET', url: '/health' })
      expect(response.statusCode).toBe(200)
      const report = response.json<{ status: string; dependencies: { name: string }[] }>()
      expect(report.status).toBe('up')
      expect(report.dependencies.find((d) => d.name === 'database')).toEqual({
        name: 'database',
        status: 'up',
        latencyMs: expect.any(Number),
      })
    })
  })
})

describe('readiness without a database', () => {
  let testApp: TestApp

  beforeAll(async () => {
    testApp = await createTestApp()
  })

  afterAll(async () => {
    // The test closed the database already; closing everything again must still succeed.
    await testApp?.close()
  })

  it('answers 503 service_unavailable at /health/ready and reports the database down', async () => {
    await testApp.database.close()

    const ready = await testApp.app.inject({ method: 'GET', url: '/health/ready' })
    const problem = expectProblem(ready, 503, 'service_unavailable')
    expect(problem.detail).toContain('database')

    const health = await testApp.app.inject({ method: 'GET', url: '/health' })
    expect(health.statusCode).toBe(503)
    const report = health.json<{ status: string; dependencies: { name: string }[] }>()
    expect(report.status).toBe('down')
    expect(report.dependencies.find((d) => d.name === 'database')).toEqual({
      name: 'database',
      status: 'down',
      latencyMs: expect.any(Number),
      error: expect.any(String),
    })
  })
})

describe('access rule', () => {
  it('refuses to start with a route that declares no access', async () => {
    await expect(
      createTestApp({
        routes: (app) => {
          app.get('/test/unguarded', async () => ({ open: true }))
        },
      }),
    ).rejects.toThrow('route GET /test/unguarded declares no access rule')
  })
})
