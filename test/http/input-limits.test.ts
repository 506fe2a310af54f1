import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { INPUT_LIMITS } from '../../src/http/input.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import { createApiKey, randomClientIp, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { idempotencyKey } from '../ledger.js'
import { type StateSnapshot, snapshotState } from '../state-snapshot.js'
import { fund, openWallet, postMoney } from '../wallets/fixtures.js'

let t: TestApp
let admin: SignedUpUser
let alice: SignedUpUser
let usd: string
let eur: string
let depositId: string
let before: StateSnapshot

beforeAll(async () => {
  t = await createTestApp()
  admin = await signUp(t, { roles: ['admin'] })
  alice = await signUp(t)
  usd = (await openWallet(t, alice.headers, 'USD')).id
  eur = (await openWallet(t, alice.headers, 'EUR')).id
  depositId = (await fund(t, admin.headers, usd, '100.00')).id
  const rate = await t.app.inject({
    method: 'PUT',
    url: '/api/v1/fx-rates/USD/EUR',
    headers: admin.headers,
    payload: { rate: '0.9' },
  })
  expect(rate.statusCode, rate.body).toBe(201)
})

afterAll(async () => {
  await t?.close()
})

function expectProblem(response: LightMyRequestResponse, status: number, code: string) {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(response.json()).toMatchObject({ status, code })
  return response.json<{ errors?: Array<{ instancePath: string }> }>()
}

/** The refusals below must change nothing at all. */
async function expectUnchanged(): Promise<void> {
  expect(await snapshotState(t.database.db)).toEqual(before)
}

const NUL = '\u0000'

describe('a NUL character in any stored string', () => {
  beforeEach(async () => {
    before = await snapshotState(t.database.db)
  })

  const movement = (path: string, field: string) => ({
    name: `${path} ${field}`,
    send: () =>
      postMoney(t, admin.headers, path.replace('{usd}', usd), { amount: '1.00', [field]: `a${NUL}b` }),
  })

  const cases: Array<{ name: string; send: () => Promise<LightMyRequestResponse> }> = [
    {
      name: 'register name',
      send: () =>
        t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/register',
          remoteAddress: randomClientIp(),
          payload: {
            email: `nul-${Date.now()}@example.test`,
            password: 'a long passphrase',
            name: `A${NUL}`,
          },
        }),
    },
    {
      name: 'register email',
      send: () =>
        t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/register',
          remoteAddress: randomClientIp(),
          payload: { email: `nul${NUL}@example.test`, password: 'a long passphrase' },
        }),
    },
    {
      name: 'API-key name',
      send: () =>
        t.app.inject({
          method: 'POST',
          url: '/api/v1/api-keys',
          headers: admin.headers,
          payload: { name: `key${NUL}`, roles: ['service'] },
        }),
    },
    movement('/api/v1/wallets/{usd}/deposits', 'reference'),
    movement('/api/v1/wallets/{usd}/deposits', 'description'),
    movement('/api/v1/wallets/{usd}/withdrawals', 'reference'),
    movement('/api/v1/wallets/{usd}/withdrawals', 'description'),
    ...['reference', 'description'].map((field) => ({
      name: `transfer ${field}`,
      send: () =>
        postMoney(t, alice.headers, '/api/v1/transfers', {
          fromWalletId: usd,
          toUserId: admin.userId,
          amount: '1.00',
          [field]: `x${NUL}`,
        }),
    })),
    ...['reference', 'description'].map((field) => ({
      name: `exchange ${field}`,
      send: () =>
        postMoney(t, alice.headers, '/api/v1/exchanges', {
          fromWalletId: usd,
          toWalletId: eur,
          amount: '1.00',
          [field]: `x${NUL}`,
        }),
    })),
    ...['orderId', 'description'].map((field) => ({
      name: `purchase ${field}`,
      send: () =>
        postMoney(t, alice.headers, '/api/v1/purchases', {
          walletId: usd,
          merchant: 'shop-1',
          amount: '1.00',
          [field]: `x${NUL}`,
        }),
    })),
    {
      name: 'hold description',
      send: () =>
        postMoney(t, alice.headers, '/api/v1/holds', {
          walletId: usd,
          amount: '1.00',
          description: `x${NUL}`,
        }),
    },
    {
      name: 'reversal reason',
      send: () =>
        postMoney(t, admin.headers, `/api/v1/transactions/${depositId}/reversal`, { reason: `x${NUL}` }),
    },
    {
      name: 'currency name',
      send: () =>
        t.app.inject({
          method: 'PUT',
          url: '/api/v1/currencies/NULCOIN',
          headers: admin.headers,
          payload: { decimals: 2, name: `Nul${NUL}coin` },
        }),
    },
    ...[
      ['a metadata value', { note: `x${NUL}` }],
      ['a nested metadata value', { a: { b: [1, { c: `x${NUL}` }] } }],
      ['a metadata key', { [`k${NUL}`]: 1 }],
      ['a nested metadata key', { a: { [`k${NUL}`]: 'v' } }],
    ].map(([name, metadata]) => ({
      name: name as string,
      send: () =>
        postMoney(t, admin.headers, `/api/v1/wallets/${usd}/deposits`, { amount: '1.00', metadata }),
    })),
    {
      name: 'a query string',
      send: () =>
        t.app.inject({
          method: 'GET',
          url: `/api/v1/wallets/${usd}/transactions?type=deposit%00`,
          headers: alice.headers,
        }),
    },
    {
      name: 'a path parameter',
      send: () =>
        t.app.inject({
          method: 'PUT',
          url: '/api/v1/currencies/AB%00C',
          headers: admin.headers,
          payload: { decimals: 2, name: 'x' },
        }),
    },
  ]

  it.each(cases)('is refused with 422 forbidden_character: $name', async ({ send }) => {
    const problem = expectProblem(await send(), 422, 'forbidden_character')
    expect(problem.errors?.[0]?.instancePath).toEqual(expect.any(String))
    await expectUnchanged()
  })

  it('also refuses other control characters and unpaired surrogates, anywhere', async () => {
    for (const text of ['bell\u0007', 'esc\u001b[31m', 'del\u007f', 'half \ud800 pair']) {
      const response = await postMoney(t, admin.headers, `/api/v1/wallets/${usd}/deposits`, {
        amount: '1.00',
        description: text,
      })
      expectProblem(response, 422, 'forbidden_character')
    }
    await expectUnchanged()
  })

  it('refuses line breaks in one-line fields but keeps them in free text', async () => {
    const reference = await postMoney(t, admin.headers, `/api/v1/wallets/${usd}/deposits`, {
      amount: '1.00',
      reference: 'line\nbreak',
    })
    expectProblem(reference, 422, 'forbidden_character')
    await expectUnchanged()
    const description = await postMoney(t, admin.headers, `/api/v1/wallets/${usd}/deposits`, {
      amount: '1.00',
      description: 'first line\n\tsecond line 🎉',
      reference: 'emoji 🎉 ok',
    })
    expect(description.statusCode, description.body).toBe(201)
    expect(description.json()).toMatchObject({ description: 'first line\n\tsecond line 🎉' })
  })
})

describe('deeply nested JSON', () => {
  const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`

  beforeEach(async () => {
    before = await snapshotState(t.database.db)
  })

  it.each([
    ['a route that takes no body', () => `/api/v1/holds/${usd}/void`],
    ['a route with a body schema', () => `/api/v1/wallets/${usd}/deposits`],
    ['sign-out', () => '/api/v1/auth/sign-out'],
  ])('is 422 limit_exceeded on %s, 100,000 levels deep', async (_name, url) => {
    const response = await t.app.inject({
      method: 'POST',
      url: url(),
      headers: { ...alice.headers, 'idempotency-key': idempotencyKey(), 'content-type': 'application/json' },
      payload: deep(100_000),
    })
    const problem = expectProblem(response, 422, 'limit_exceeded')
    expect(problem.errors?.[0]).toMatchObject({ keyword: 'maxDepth' })
    await expectUnchanged()
  })

  it(`parses ${INPUT_LIMITS.bodyDepth} levels and refuses ${INPUT_LIMITS.bodyDepth + 1}`, async () => {
    const send = (levels: number) =>
      t.app.inject({
        method: 'POST',
        url: `/api/v1/holds/${usd}/void`,
        headers: {
          ...alice.headers,
          'idempotency-key': idempotencyKey(),
          'content-type': 'application/json',
        },
        payload: deep(levels),
      })
    // Within the bound the body is parsed, then refused by the route's schema: it takes no body.
    expectProblem(await send(INPUT_LIMITS.bodyDepth), 400, 'invalid_request')
    expectProblem(await send(INPUT_LIMITS.bodyDepth + 1), 422, 'limit_exceeded')
    // Brackets inside strings are text, not nesting.
    const inString = await postMoney(t, admin.headers, `/api/v1/wallets/${usd}/deposits`, {
      amount: '1.00',
      description: '['.repeat(200),
    })
    expect(inString.statusCode, inString.body).toBe(201)
  })
})

describe('routes that take no body', () => {
  it('refuse a body with 400 and accept none, an empty one, or {}', async () => {
    const freeze = (payload?: string) =>
      t.app.inject({
        method: 'POST',
        url: `/api/v1/wallets/${eur}/freeze`,
        headers: {
          ...admin.headers,
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(payload === undefined ? {} : { payload }),
      })
    before = await snapshotState(t.database.db)
    for (const body of ['{"status":"frozen"}', '[]', '"x"', '1']) {
      const problem = expectProblem(await freeze(body), 400, 'invalid_request')
      expect(JSON.stringify(problem)).toContain('takes no body')
    }
    await expectUnchanged()
    for (const body of [undefined, '', '{}']) {
      expect((await freeze(body)).statusCode, String(body)).toBe(200)
    }
    const unfreeze = await t.app.inject({
      method: 'POST',
      url: `/api/v1/wallets/${eur}/unfreeze`,
      headers: admin.headers,
    })
    expect(unfreeze.statusCode).toBe(200)
  })

  it('lets a body whose fields are all optional be left out (capture)', async () => {
    const hold = await postMoney(t, alice.headers, '/api/v1/holds', {
      walletId: usd,
      amount: '2.00',
      merchant: 'shop-1',
    })
    expect(hold.statusCode, hold.body).toBe(201)
    const capture = await t.app.inject({
      method: 'POST',
      url: `/api/v1/holds/${hold.json().id}/capture`,
      headers: { ...alice.headers, 'idempotency-key': idempotencyKey() },
    })
    expect(capture.statusCode, capture.body).toBe(201)
  })
})

describe('path and URL errors of the router', () => {
  it('answers a 5,000-character path parameter with 414 problem+json', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: `/api/v1/wallets/${'a'.repeat(5000)}`,
      headers: alice.headers,
    })
    expectProblem(response, 414, 'uri_too_long')
    expect(response.headers['x-request-id']).toEqual(expect.any(String))
  })

  it('answers a bad percent-encoding with 400 malformed_url problem+json', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/api/v1/wallets/%E0%A4%A',
      headers: alice.headers,
    })
    expectProblem(response, 400, 'malformed_url')
  })
})

describe('requests that are not HTTP', () => {
  /** The raw answer of the listening app to raw bytes. */
  async function rawAnswer(bytes: string): Promise<string> {
    if (!t.app.server.listening) await t.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = t.app.server.address() as AddressInfo
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(bytes))
      let answer = ''
      socket.setEncoding('utf8')
      socket.on('data', (chunk: string) => {
        answer += chunk
      })
      socket.on('close', () => resolve(answer))
      socket.on('error', reject)
      socket.setTimeout(5_000, () => socket.destroy(new Error('no answer')))
    })
  }

  function problemOf(answer: string): { status: number; contentType: string; body: Record<string, unknown> } {
    const [head = '', body = ''] = answer.split('\r\n\r\n')
    return {
      status: Number(head.split(' ')[1]),
      contentType: /content-type: ([^\r]+)/i.exec(head)?.[1] ?? '',
      body: JSON.parse(body) as Record<string, unknown>,
    }
  }

  it.each([
    ['garbage instead of a request line', 'GARBAGE\r\n\r\n', 400, 'malformed_request'],
    ['a bad header', 'GET /health/live HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', 400, 'malformed_request'],
    [
      'headers past the size limit',
      `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'headers_too_large',
    ],
  ])('answers %s with problem+json', async (_name, bytes, status, code) => {
    const answer = problemOf(await rawAnswer(bytes))
    expect(answer.status).toBe(status)
    expect(answer.contentType).toMatch(/^application\/problem\+json/)
    expect(answer.body).toMatchObject({ status, code, requestId: expect.any(String) })
  })
})

describe('numbers in query strings', () => {
  const history = (limit: string) =>
    t.app.inject({
      method: 'GET',
      url: `/api/v1/wallets/${usd}/transactions?limit=${encodeURIComponent(limit)}`,
      headers: alice.headers,
    })

  it.each(['1.5', '1e2', '+5', '0x10', ' 5', '5 ', '', '007', '0b11', '5.0'])(
    'refuses limit=%j with 400 invalid_request',
    async (limit) => {
      expectProblem(await history(limit), 400, 'invalid_request')
    },
  )

  it('takes limit=50 and 500, and refuses 501 as past the bound', async () => {
    expect((await history('50')).statusCode).toBe(200)
    expect((await history('500')).statusCode).toBe(200)
    expectProblem(await history('501'), 422, 'limit_exceeded')
  })

  it('is as strict on every list: the API keys', async () => {
    const list = (limit: string) =>
      t.app.inject({ method: 'GET', url: `/api/v1/api-keys?limit=${limit}`, headers: admin.headers })
    expect((await list('10')).statusCode).toBe(200)
    expectProblem(await list('1e1'), 400, 'invalid_request')
  })
})

describe('instants', () => {
  it('refuses a leap second and year 0000, which RFC 3339 allows but no Date or timestamp holds', async () => {
    before = await snapshotState(t.database.db)
    for (const instant of ['2026-12-31T23:59:60Z', '0000-01-01T00:00:00Z', '0001-01-01T00:30:00+01:00']) {
      const at = encodeURIComponent(instant)
      const balance = await t.app.inject({
        method: 'GET',
        url: `/api/v1/wallets/${usd}/balance?at=${at}`,
        headers: alice.headers,
      })
      expectProblem(balance, 400, 'invalid_request')
      const history = await t.app.inject({
        method: 'GET',
        url: `/api/v1/wallets/${usd}/transactions?from=${at}&to=${at}`,
        headers: alice.headers,
      })
      expectProblem(history, 400, 'invalid_request')
      const hold = await postMoney(t, alice.headers, '/api/v1/holds', {
        walletId: usd,
        amount: '1.00',
        expiresAt: instant,
      })
      expectProblem(hold, 400, 'invalid_request')
    }
    await expectUnchanged()
  })

  it('takes the ends of the range: years 1 and 9999', async () => {
    for (const instant of ['0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z']) {
      const response = await t.app.inject({
        method: 'GET',
        url: `/api/v1/wallets/${usd}/balance?at=${encodeURIComponent(instant)}`,
        headers: alice.headers,
      })
      expect(response.statusCode, response.body).toBe(200)
    }
  })
})

describe('exchange rates', () => {
  it('refuses PUT /fx-rates/XYZ/JPY: no such currency, nothing stored', async () => {
    before = await snapshotState(t.database.db)
    for (const url of ['/api/v1/fx-rates/XYZ/JPY', '/api/v1/fx-rates/JPY/XYZ']) {
      const response = await t.app.inject({
        method: 'PUT',
        url,
        headers: admin.headers,
        payload: { rate: '1' },
      })
      expectProblem(response, 422, 'unknown_currency')
    }
    await expectUnchanged()
  })
})

describe('documented limits', () => {
  beforeEach(async () => {
    before = await snapshotState(t.database.db)
  })

  const deposit = (body: Record<string, unknown>) =>
    postMoney(t, admin.headers, `/api/v1/wallets/${usd}/deposits`, { amount: '1.00', ...body })

  const nested = (levels: number): Record<string, unknown> =>
    levels === 1 ? { leaf: 1 } : { next: nested(levels - 1) }

  const keys = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i]))

  it.each([
    ['a reference of 201 characters', { reference: 'r'.repeat(201) }],
    ['a description of 501 characters', { description: 'd'.repeat(501) }],
    ['an amount of 41 characters', { amount: `1.${'0'.repeat(39)}` }],
    [
      'metadata of more than 16 KB',
      { metadata: { a: 'x'.repeat(1000), b: Array(20).fill('y'.repeat(900)) } },
    ],
    ['metadata of 65 keys', { metadata: keys(65) }],
    ['metadata of 65 keys in all, nested', { metadata: { ...keys(60), inner: keys(5) } }],
    ['a metadata key of 101 characters', { metadata: { ['k'.repeat(101)]: 1 } }],
    ['metadata 6 levels deep', { metadata: nested(6) }],
    ['a metadata string of 1,001 characters', { metadata: { note: 'n'.repeat(1001) } }],
  ])('refuses %s with 422 limit_exceeded', async (_name, body) => {
    expectProblem(await deposit(body), 422, 'limit_exceeded')
    await expectUnchanged()
  })

  it('takes everything up to the limits', async () => {
    const response = await deposit({
      reference: 'r'.repeat(200),
      description: 'd'.repeat(500),
      metadata: { ...keys(58), note: 'n'.repeat(1000), deep: nested(4) },
    })
    expect(response.statusCode, response.body).toBe(201)
  })

  it('keeps shape mismatches at 400 invalid_request, even beside a limit', async () => {
    expectProblem(await deposit({ amount: 1 }), 400, 'invalid_request')
    expectProblem(await deposit({ description: 'd'.repeat(501), unexpected: true }), 400, 'invalid_request')
    await expectUnchanged()
  })

  it('bounds the names and lists an admin sends', async () => {
    const apiKey = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: admin.headers,
      payload: { name: 'n'.repeat(101), roles: ['service'] },
    })
    expectProblem(apiKey, 422, 'limit_exceeded')
    const currency = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/currencies/LONGNAME',
      headers: admin.headers,
      payload: { decimals: 2, name: 'n'.repeat(101) },
    })
    expectProblem(currency, 422, 'limit_exceeded')
    await expectUnchanged()
  })

  it('answers a service key the same way', async () => {
    const service = await createApiKey(t, ['service'])
    before = await snapshotState(t.database.db)
    const response = await postMoney(t, service.headers, `/api/v1/wallets/${usd}/deposits`, {
      amount: '1.00',
      metadata: keys(65),
    })
    expectProblem(response, 422, 'limit_exceeded')
    await expectUnchanged()
  })
})
