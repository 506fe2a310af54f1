import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../app.js'
import {
  type AuthHeaders,
  createApiKey,
  randomClientIp,
  type SignedUpUser,
  signUp,
} from '../auth-fixtures.js'
import { expectLedgerConsistent, idempotencyKey } from '../ledger.js'
import { type StateSnapshot, snapshotState } from '../state-snapshot.js'
import { fund, openWallet, postMoney } from '../wallets/fixtures.js'

/**
 * The bad-input corpus: for every operation of /openapi.json, requests that are wrong in one way
 * each (types, missing and extra fields, control characters, huge strings and numbers, deep
 * nesting, bad ids, currencies, cursors, dates, amounts, headers, content types, query strings,
 * path params), sent as a principal that may call the operation, so they pass authentication and
 * reach validation and the services. Every answer is below 500; every 4xx is problem+json; a
 * request that may change state is never accepted; and no batch changes any row or balance.
 *
 * Seeded: COFFER_FUZZ_SEED=<n> reruns a failure exactly (the seed is printed when a batch
 * fails), COFFER_FUZZ_RUNS=<n> sets the cases per operation.
 */
const SEED = Number(process.env.COFFER_FUZZ_SEED ?? 9_2026)
const RUNS = Number(process.env.COFFER_FUZZ_RUNS ?? 300)

type JsonSchema = {
  type?: string
  format?: string
  pattern?: string
  maxLength?: number
  minimum?: number
  maximum?: number
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  anyOf?: JsonSchema[]
  enum?: unknown[]
  const?: unknown
  examples?: unknown[]
  additionalProperties?: unknown
  $ref?: string
  [keyword: string]: unknown
}

interface Parameter {
  name: string
  in: 'path' | 'query' | 'header'
  required?: boolean
  schema: JsonSchema
}

interface Operation {
  method: string
  /** OpenAPI path, e.g. /api/v1/wallets/{id}/deposits */
  path: string
  parameters: Parameter[]
  body: JsonSchema | null
  secured: boolean
}

interface BadRequest {
  what: string
  method: string
  url: string
  headers: Record<string, string>
  payload?: string
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

let t: TestApp
let alice: SignedUpUser
let bob: SignedUpUser
let admin: SignedUpUser
let service: AuthHeaders
const ids = {
  aliceUsd: '',
  aliceEur: '',
  bobUsd: '',
  hold: '',
  transaction: '',
  session: '',
  apiKey: '',
}
let operations: Operation[] = []
const principals = new Map<string, AuthHeaders | null>()
const summary = { requests: 0, operations: 0, byStatus: new Map<number, number>() }

beforeAll(async () => {
  t = await createTestApp({ env: { RATE_LIMIT_AUTH_PER_MINUTE: '1000000' } })
  admin = await signUp(t, { roles: ['admin'] })
  alice = await signUp(t)
  bob = await signUp(t)
  service = (await createApiKey(t, ['service'])).headers
  ids.apiKey = (await createApiKey(t, ['service'])).id
  ids.aliceUsd = (await openWallet(t, alice.headers, 'USD')).id
  ids.aliceEur = (await openWallet(t, alice.headers, 'EUR')).id
  ids.bobUsd = (await openWallet(t, bob.headers, 'USD')).id
  ids.transaction = (await fund(t, admin.headers, ids.aliceUsd, '1000.00')).id
  await fund(t, admin.headers, ids.aliceEur, '50.00')
  const rate = await t.app.inject({
    method: 'PUT',
    url: '/api/v1/fx-rates/USD/EUR',
    headers: admin.headers,
    payload: { rate: '0.9' },
  })
  expect(rate.statusCode, rate.body).toBe(201)
  const hold = await postMoney(t, alice.headers, '/api/v1/holds', {
    walletId: ids.aliceUsd,
    amount: '5.00',
    merchant: 'shop-1',
  })
  expect(hold.statusCode, hold.body).toBe(201)
  ids.hold = hold.json<{ id: string }>().id
  const sessions = await t.app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: alice.headers })
  ids.session = sessions.json<{ items: Array<{ id: string }> }>().items[0]!.id

  const document = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
    components?: { schemas?: Record<string, JsonSchema> }
    paths: Record<
      string,
      Record<
        string,
        {
          parameters?: Parameter[]
          requestBody?: { content?: Record<string, { schema?: JsonSchema }> }
          security?: unknown[]
        }
      >
    >
  }>()
  operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      parameters: operation.parameters ?? [],
      body: inlined(
        operation.requestBody?.content?.['application/json']?.schema ?? null,
        document.components,
      ),
      secured: (operation.security ?? []).length > 0,
    })),
  )
  for (const operation of operations) principals.set(key(operation), await principalFor(operation))
})

afterAll(async () => {
  const statuses = [...summary.byStatus.entries()].sort(([a], [b]) => a - b)
  console.log(
    `bad-input corpus: seed ${SEED}, ${summary.operations} operations, ${summary.requests} requests, ` +
      `statuses ${statuses.map(([s, n]) => `${s}×${n}`).join(' ')}, 5xx seen ${statuses
        .filter(([s]) => s >= 500)
        .reduce((n, [, c]) => n + c, 0)}`,
  )
  await t?.close()
})

/** A body schema with its references to named components replaced by the components. */
function inlined<T>(schema: T, components: { schemas?: Record<string, JsonSchema> } | undefined): T {
  if (Array.isArray(schema)) return schema.map((item) => inlined(item, components)) as T
  if (schema === null || typeof schema !== 'object') return schema
  const { $ref } = schema as JsonSchema
  if ($ref) return inlined(components?.schemas?.[$ref.split('/').pop()!] as T, components)
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, inlined(v, components)])) as T
}

function key(operation: Operation): string {
  return `${operation.method} ${operation.path}`
}

/** A value for a path parameter that names a fixture the principal may use. */
function pathValue(path: string, name: string): string {
  if (name === 'base') return 'USD'
  if (name === 'quote') return 'EUR'
  if (name === 'code') return 'FUZZCOIN'
  if (path.startsWith('/api/v1/holds/')) return ids.hold
  if (path.startsWith('/api/v1/transactions/')) return ids.transaction
  if (path.startsWith('/api/v1/auth/sessions/')) return ids.session
  if (path.startsWith('/api/v1/api-keys/')) return ids.apiKey
  return ids.aliceUsd
}

function urlOf(operation: Operation, overrides: Record<string, string> = {}, query = ''): string {
  const path = operation.path.replace(/\{([^}]+)\}/g, (_m, name: string) =>
    overrides[name] !== undefined ? overrides[name]! : encodeURIComponent(pathValue(operation.path, name)),
  )
  return query ? `${path}?${query}` : path
}

/** The first of alice, the service and the admin that the operation lets through. */
async function principalFor(operation: Operation): Promise<AuthHeaders | null> {
  if (!operation.secured) return null
  for (const headers of [alice.headers, service, admin.headers]) {
    const response = await t.app.inject({
      method: operation.method as 'GET',
      url: urlOf(operation),
      headers: {
        ...headers,
        ...(MUTATING.has(operation.method)
          ? { 'content-type': 'application/json', 'idempotency-key': idempotencyKey('probe') }
          : {}),
      },
      ...(MUTATING.has(operation.method) ? { payload: '[]' } : {}),
    })
    if (response.statusCode !== 401 && response.statusCode !== 403) return headers
  }
  return admin.headers
}

/** A valid value of a field, by its name where the name decides and by its schema otherwise. */
function exemplar(schema: JsonSchema, name: string, path: string): unknown {
  const byName: Record<string, unknown> = {
    email: `fuzz-${randomUUID()}@example.test`,
    password: 'a long passphrase',
    refreshToken: 'x'.repeat(43),
    amount: '1.00',
    currency: 'USD',
    merchant: 'shop-1',
    walletId: ids.aliceUsd,
    fromWalletId: ids.aliceUsd,
    toWalletId: path === '/api/v1/exchanges' ? ids.aliceEur : ids.bobUsd,
    from: 'USD',
    to: 'EUR',
    rate: '1.5',
    reason: 'fuzz',
    name: 'Fuzz',
    roles: ['service'],
  }
  if (name in byName) return byName[name]
  if (schema.const !== undefined) return schema.const
  if (schema.anyOf) return exemplar(schema.anyOf[0]!, name, path)
  if (schema.examples?.length) return schema.examples[0]
  switch (schema.type) {
    case 'integer':
    case 'number':
      return schema.minimum ?? 1
    case 'boolean':
      return false
    case 'array':
      return schema.items ? [exemplar(schema.items, name, path)] : []
    case 'object': {
      const fields = [
        ...(schema.required ?? []),
        ...(path === '/api/v1/transfers' && name === '' ? ['toWalletId'] : []),
      ]
      return Object.fromEntries(
        fields.map((field) => [field, exemplar(schema.properties?.[field] ?? {}, field, path)]),
      )
    }
    default:
      return schema.format === 'uuid' ? randomUUID() : 'fuzz'
  }
}

const CONTROL = fc.constantFrom(
  '\u0000',
  '\u0001',
  '\u0007',
  '\u0008',
  '\u001b',
  '\u007f',
  '\ud800',
  '\udfff',
)
const HUGE_LENGTH = fc.constantFrom(1_001, 5_000, 100_000)
const BAD_UUIDS = [
  'not-a-uuid',
  '00000000-0000-0000-0000-00000000000g',
  '0000000000000000000000000000000000',
  '{00000000-0000-0000-0000-000000000000}',
  '',
  ' ',
]
const BAD_AMOUNTS = [
  'abc',
  '-1.00',
  '1.001',
  '0',
  '0.00',
  '1e5',
  '0x10',
  ' 1',
  '1 ',
  '１',
  '1,00',
  '',
  '.5',
  '5.',
  '00.1',
  '+1',
  'NaN',
  'Infinity',
  '9'.repeat(39),
  `1.${'0'.repeat(38)}1`,
]
const BAD_CURRENCIES = ['XYZ', 'US', 'U$D', 'ÜSD', 'A'.repeat(33), '', ' USD', '1AB']
const BAD_DATES = [
  '2026-13-01T00:00:00Z',
  'yesterday',
  '2026-12-01',
  '',
  '2026-12-01T25:00:00Z',
  '2026-02-30T00:00:00Z',
]
/** Dates the format accepts that are no instant (a leap second) or are far out; a body must refuse them. */
const EDGE_DATES = ['2026-12-31T23:59:60Z', '0000-01-01T00:00:00Z', '1969-12-31T23:59:59.999Z']
/** Edge dates a query may take: a read answers them, it must not fail. */
const EDGE_QUERY_DATES = [
  ...EDGE_DATES,
  '9999-12-31T23:59:59Z',
  '2026-12-01t00:00:00z',
  '2026-12-01 00:00:00Z',
]
const BAD_CURSORS = ['garbage', 'ZTo3', Buffer.from('e:-1').toString('base64url'), '%25%25', '='.repeat(50)]
const WRONG_TYPES: Array<[string, unknown]> = [
  ['string', 'text'],
  ['number', 123.5],
  ['integer', 7],
  ['boolean', true],
  ['null', null],
  ['array', []],
  ['object', {}],
]

function wrongTypeFor(schema: JsonSchema): fc.Arbitrary<unknown> {
  const own = schema.type ?? (schema.anyOf ? 'string' : 'object')
  const others = WRONG_TYPES.filter(
    ([type]) =>
      type !== own && !(own === 'number' && type === 'integer') && !(own === 'integer' && type === 'number'),
  )
  return fc.constantFrom(...others.map(([, value]) => value))
}

function insertAt(text: string, position: number, insert: string): string {
  const at = Math.min(position, text.length)
  return `${text.slice(0, at)}${insert}${text.slice(at)}`
}

function nested(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`
}

/** Body-level mutations: each yields a body that no schema of the operation accepts. */
function badBodies(
  operation: Operation,
): fc.Arbitrary<{ what: string; payload: string; contentType?: string }> {
  const schema = operation.body!
  const base = exemplar(schema, '', operation.path) as Record<string, unknown>
  const properties = Object.entries(schema.properties ?? {})
  const strings = properties.filter(([, p]) => p.type === 'string')
  const json = (what: string, value: unknown) => ({ what, payload: JSON.stringify(value) })
  const choices: Array<fc.Arbitrary<{ what: string; payload: string; contentType?: string }>> = [
    fc
      .string({ minLength: 1, maxLength: 20 })
      .filter((name) => !(name in (schema.properties ?? {})))
      .map((name) => json(`extra field ${JSON.stringify(name)}`, { ...base, [name]: 1 })),
    fc
      .constantFrom<unknown>([], 'text', 1, true, [base])
      .map((value) => json(`body of the wrong type ${JSON.stringify(value).slice(0, 20)}`, value)),
    fc
      .constantFrom(33, 1_000, 100_000)
      .map((depth) => ({ what: `body nested ${depth} deep`, payload: nested(depth) })),
    fc
      .constantFrom('{"a":', '{', '{"amount": 1,}', "{'a': 1}", '\u0000', 'nul\u0000{}', '{"a":1}{"b":2}')
      .map((text) => ({ what: `malformed JSON ${JSON.stringify(text)}`, payload: text })),
    fc
      .constantFrom(
        'text/plain',
        'application/xml',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/jsonx',
        'json',
      )
      .map((contentType) => ({
        what: `content-type ${contentType}`,
        payload: JSON.stringify(base),
        contentType,
      })),
    fc.constant({ what: 'body over 1 MB', payload: JSON.stringify({ ...base, pad: 'p'.repeat(1_100_000) }) }),
    fc.constant({
      what: 'prototype pollution',
      payload: `{"__proto__":{"admin":true}${JSON.stringify(base)
        .slice(1)
        .replace(/^(?!\})/, ',')}`,
    }),
  ]
  if ((schema.required ?? []).length > 0) {
    choices.push(
      fc.constantFrom(...schema.required!).map((field) => {
        const { [field]: _dropped, ...rest } = base
        return json(`missing ${field}`, rest)
      }),
    )
    choices.push(
      fc.constantFrom<unknown>(null, {}).map((value) => json(`empty body ${JSON.stringify(value)}`, value)),
    )
  }
  if (properties.length > 0) {
    choices.push(
      fc
        .constantFrom(...properties)
        .chain(([field, property]) =>
          wrongTypeFor(property).map((value) =>
            json(`${field} of the wrong type`, { ...base, [field]: value }),
          ),
        ),
    )
  }
  if (strings.length > 0) {
    const stringField = fc.constantFrom(...strings)
    choices.push(
      fc.tuple(stringField, CONTROL, fc.nat(40)).map(([[field, property], control, at]) => {
        const valid = String(base[field] ?? exemplar(property, field, operation.path))
        return json(`${field} with U+${control.charCodeAt(0).toString(16).padStart(4, '0')}`, {
          ...base,
          [field]: insertAt(valid, at, control),
        })
      }),
      fc.tuple(stringField, HUGE_LENGTH).map(([[field, property], length]) =>
        json(`${field} of ${length} characters`, {
          ...base,
          [field]: 'a'.repeat(Math.max(length, (property.maxLength ?? 0) + 1)),
        }),
      ),
    )
    for (const [field, property] of strings) {
      const named = (values: string[], kind: string) =>
        choices.push(
          fc
            .constantFrom(...values)
            .map((value) =>
              json(`${kind} ${field}=${JSON.stringify(value).slice(0, 40)}`, { ...base, [field]: value }),
            ),
        )
      if (property.format === 'uuid') named([...BAD_UUIDS, randomUUID()], 'bad uuid')
      if (property.format === 'date-time') named([...BAD_DATES, ...EDGE_DATES], 'bad date')
      if (field === 'amount') named(BAD_AMOUNTS, 'bad amount')
      if (field === 'rate') named([...BAD_AMOUNTS.filter((a) => a !== '1.001'), '0.0', '-0.5'], 'bad rate')
      if (['currency', 'from', 'to'].includes(field)) named(BAD_CURRENCIES, 'bad currency')
    }
  }
  for (const [field, property] of properties) {
    if (property.type === 'integer' || property.type === 'number') {
      choices.push(
        fc
          .constantFrom(1e308, -1e308, 2 ** 53 + 2, 1.5, -1, 1e21)
          .map((value) => json(`${field}=${value}`, { ...base, [field]: value })),
      )
    }
    if (property[`x-coffer-limits`] !== undefined) {
      choices.push(
        fc
          .constantFrom<unknown>(
            { k: `v${'\u0000'}` },
            { [`k${'\u0000'}`]: 'v' },
            { a: { b: { c: { d: { e: { f: 1 } } } } } },
            Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])),
            { big: Array(20).fill('x'.repeat(1000)) },
            { ['k'.repeat(101)]: 1 },
            { s: 's'.repeat(1001) },
            [1, 2],
          )
          .map((metadata) => json(`bad ${field}`, { ...base, [field]: metadata })),
      )
    }
  }
  return fc.oneof(...choices)
}

function badQueries(operation: Operation): fc.Arbitrary<{ what: string; query: string }> {
  const query = operation.parameters.filter((p) => p.in === 'query')
  const choices: Array<fc.Arbitrary<{ what: string; query: string }>> = [
    fc
      .constantFrom('type=%00', 'zzz=%00', 'a=%E0%A4%A', `q=${'x'.repeat(5000)}`)
      .map((q) => ({ what: `query ${q.slice(0, 30)}`, query: q })),
  ]
  for (const parameter of query) {
    const values: string[] = [encodeURIComponent('\u0000'), encodeURIComponent('a\u0007b'), 'x'.repeat(5000)]
    const type = parameter.schema.type
    if (type === 'integer')
      values.push('1.5', '1e2', '%2B5', '0x10', '', '-1', '0', '501', '99999999999999999999', 'ten')
    if (parameter.schema.format === 'date-time')
      values.push(...[...BAD_DATES, ...EDGE_QUERY_DATES].map(encodeURIComponent))
    if (parameter.name === 'cursor') values.push(...BAD_CURSORS)
    if (parameter.schema.anyOf || parameter.schema.enum) values.push('bogus')
    if (['base', 'quote'].includes(parameter.name)) values.push(...BAD_CURRENCIES.map(encodeURIComponent))
    choices.push(
      fc.constantFrom(...values).map((value) => ({
        what: `${parameter.name}=${value.slice(0, 30)}`,
        query: `${parameter.name}=${value}`,
      })),
      fc.constant({ what: `${parameter.name} twice`, query: `${parameter.name}=1&${parameter.name}=2` }),
    )
  }
  return fc.oneof(...choices)
}

function badPaths(
  operation: Operation,
): fc.Arbitrary<{ what: string; overrides: Record<string, string> }> | null {
  const params = operation.parameters.filter((p) => p.in === 'path')
  if (params.length === 0) return null
  return fc.constantFrom(...params).chain((parameter) => {
    const values = [
      '%00',
      'a%00b',
      '..%2F..',
      '%E0%A4%A',
      'a'.repeat(101),
      'a'.repeat(5000),
      encodeURIComponent('\u0007'),
      encodeURIComponent('ü'),
    ]
    if (parameter.schema.format === 'uuid')
      values.push(...BAD_UUIDS.filter((v) => v.trim() !== '').map(encodeURIComponent), randomUUID())
    // A well-formed unknown code is no fault on PUT /currencies/{code}: it defines that currency.
    else values.push('1AB', 'A', encodeURIComponent('ÜSD'), 'US', 'A'.repeat(40))
    return fc.constantFrom(...values).map((value) => ({
      what: `path ${parameter.name}=${value.slice(0, 30)}`,
      overrides: { [parameter.name]: value },
    }))
  })
}

const BAD_AUTHORIZATIONS = [
  '',
  'Bearer',
  'Bearer ',
  'Bearer x',
  'Basic YWxhZGRpbjpvcGVuc2VzYW1l',
  `Bearer ck_${'A'.repeat(43)}`,
  `Bearer ${'a'.repeat(5000)}`,
  'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
  'Bearer \u0000',
]
const BAD_IDEMPOTENCY_KEYS = ['', ' ', 'a b', 'k'.repeat(256), 'ключ', 'k\u0000', 'k\u007f']

/** The requests of one case: the operation with exactly one thing wrong. */
function badRequests(operation: Operation): fc.Arbitrary<BadRequest> {
  const headers = principals.get(key(operation)) ?? {}
  const takesKey = operation.parameters.some((p) => p.in === 'header' && p.name === 'idempotency-key')
  const mutating = MUTATING.has(operation.method)
  const validBody = operation.body ? JSON.stringify(exemplar(operation.body, '', operation.path)) : undefined
  const request = (what: string, parts: Partial<BadRequest>): BadRequest => ({
    what,
    method: operation.method,
    url: urlOf(operation),
    headers: {
      ...headers,
      ...(takesKey ? { 'idempotency-key': idempotencyKey('fuzz') } : {}),
      ...(validBody !== undefined ? { 'content-type': 'application/json' } : {}),
      ...parts.headers,
    },
    payload: validBody,
    ...(parts.url ? { url: parts.url } : {}),
    ...('payload' in parts ? { payload: parts.payload } : {}),
  })
  const choices: Array<fc.Arbitrary<BadRequest>> = []
  if (operation.body) {
    choices.push(
      badBodies(operation).map((body) =>
        request(body.what, {
          payload: body.payload,
          headers: { 'content-type': body.contentType ?? 'application/json' },
        }),
      ),
    )
  }
  const paths = badPaths(operation)
  if (paths) choices.push(paths.map((p) => request(p.what, { url: urlOf(operation, p.overrides) })))
  if (operation.secured) {
    choices.push(
      fc
        .constantFrom(...BAD_AUTHORIZATIONS)
        .map((authorization) =>
          request(`authorization ${authorization.slice(0, 20)}`, { headers: { authorization } }),
        ),
    )
  }
  if (takesKey) {
    choices.push(
      fc
        .constantFrom(...BAD_IDEMPOTENCY_KEYS)
        .map((k) =>
          request(`idempotency-key ${JSON.stringify(k.slice(0, 20))}`, { headers: { 'idempotency-key': k } }),
        ),
    )
  }
  // No mutating route reads a query string, so there a bad one is no fault on its own.
  if (!mutating) {
    choices.push(badQueries(operation).map((q) => request(q.what, { url: urlOf(operation, {}, q.query) })))
  }
  return fc.oneof(...choices).map((bad) =>
    Object.assign(bad, {
      [fc.toStringMethod]: () => `${bad.method} ${bad.url.slice(0, 120)}: ${bad.what}`,
    }),
  )
}

function countStatus(status: number): void {
  summary.requests += 1
  summary.byStatus.set(status, (summary.byStatus.get(status) ?? 0) + 1)
}

function checkAnswer(operation: Operation, bad: BadRequest, response: LightMyRequestResponse): void {
  const label = `${bad.method} ${bad.url.slice(0, 120)} (${bad.what}) answered ${response.statusCode} ${response.body.slice(0, 300)}`
  expect(response.statusCode, label).toBeLessThan(500)
  // A request that may change state and is wrong in one way must be refused, not half-applied.
  if (MUTATING.has(operation.method)) {
    expect(response.statusCode, label).toBeGreaterThanOrEqual(400)
  }
  if (response.statusCode >= 400) {
    expect(response.headers['content-type'], label).toMatch(/^application\/problem\+json/)
    const problem = response.json<{ code?: unknown; status?: unknown }>()
    expect(problem.code, label).toEqual(expect.any(String))
    expect(problem.status, label).toBe(response.statusCode)
  }
}

describe('the bad-input corpus', () => {
  it('covers every operation of /openapi.json', () => {
    expect(operations.length).toBeGreaterThan(30)
    console.log(`bad-input corpus: seed ${SEED} (COFFER_FUZZ_SEED to change), ${RUNS} cases per operation`)
  })

  it('answers every bad request below 500, as problem+json, and changes no state', async () => {
    const failures: string[] = []
    for (const [index, operation] of operations.entries()) {
      summary.operations += 1
      const seed = SEED + index
      const sent: string[] = []
      const before: StateSnapshot = await snapshotState(t.database.db)
      try {
        await fc.assert(
          fc.asyncProperty(badRequests(operation), async (bad) => {
            sent.push(String((bad as unknown as Record<symbol, () => string>)[fc.toStringMethod]?.()))
            const response = await t.app.inject({
              method: bad.method as 'GET',
              url: bad.url,
              headers: bad.headers,
              remoteAddress: randomClientIp(),
              ...(bad.payload !== undefined ? { payload: bad.payload } : {}),
            })
            countStatus(response.statusCode)
            checkAnswer(operation, bad, response)
          }),
          { seed, numRuns: RUNS, endOnFailure: true },
        )
      } catch (error) {
        const cause = (error as Error).cause
        const reason = cause instanceof Error ? `\n${cause.message.slice(0, 1500)}` : ''
        failures.push(`${key(operation)} (seed ${seed}): ${(error as Error).message.slice(0, 1000)}${reason}`)
      }
      const after = await snapshotState(t.database.db)
      try {
        expect(after).toEqual(before)
      } catch (error) {
        failures.push(
          `${key(operation)} (seed ${seed}) changed state: ${(error as Error).message.slice(0, 2000)}\nrequests sent:\n${sent.join('\n')}`,
        )
      }
    }
    expect(failures, `COFFER_FUZZ_SEED=${SEED} reproduces these\n${failures.join('\n\n')}`).toEqual([])
    await expectLedgerConsistent(t.database.db)
  })

  it('leaves the fixtures usable: the principals still work', async () => {
    for (const headers of [alice.headers, admin.headers, service]) {
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers })).statusCode).toBe(200)
    }
  })
})
