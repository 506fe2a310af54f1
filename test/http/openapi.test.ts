import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorCatalogue } from '../../src/error-catalogue.js'
import { TRANSACTION_TYPES } from '../../src/ledger/posting-types.js'
import { createTestApp, type TestApp } from '../app.js'
import { type SignedUpUser, signUp } from '../auth-fixtures.js'
import { fund, openWallet, type Problem, postMoney } from '../wallets/fixtures.js'

/**
 * /openapi.json as a client generator reads it: every operation named, tagged, described and
 * secured as the server behaves; errors as problem+json with one Problem schema; the headers the
 * server sends; named schemas; closed sets as enums.
 */

interface Schema {
  $ref?: string
  type?: string
  enum?: unknown[]
  properties?: Record<string, Schema>
  [keyword: string]: unknown
}

interface Header {
  $ref?: string
  schema?: Schema
}

interface Response {
  $ref?: string
  description?: string
  headers?: Record<string, Header>
  content?: Record<string, { schema?: Schema }>
}

interface Parameter {
  name: string
  in: string
  required?: boolean
  description?: string
  schema?: Schema
}

interface Operation {
  operationId?: string
  tags?: string[]
  summary?: string
  description?: string
  security?: Array<Record<string, string[]>>
  parameters?: Parameter[]
  requestBody?: { content?: Record<string, { schema?: Schema }> }
  responses?: Record<string, Response>
}

interface Document {
  info: { description?: string; license?: { name?: string; url?: string }; contact?: object }
  servers?: Array<{ url: string }>
  tags?: Array<{ name: string; description?: string }>
  paths: Record<string, Record<string, Operation>>
  components: {
    schemas: Record<string, Schema>
    responses?: Record<string, Response>
    headers?: Record<string, Header>
  }
}

/** Operation ids start with one of these verbs. */
const VERBS = new Set([
  'adjust',
  'capture',
  'close',
  'create',
  'define',
  'delete',
  'download',
  'earn',
  'freeze',
  'get',
  'list',
  'refresh',
  'register',
  'replace',
  'replay',
  'reverse',
  'revoke',
  'rotate',
  'set',
  'sign',
  'spend',
  'unfreeze',
  'update',
  'void',
])

/** The money-moving POSTs: replyIdempotently answers them (src/http/idempotency.ts). */
const IDEMPOTENT_OPERATIONS = [
  'adjustPoints',
  'captureHold',
  'createDeposit',
  'createExchange',
  'createHold',
  'createOperation',
  'createPurchase',
  'createTransfer',
  'createWithdrawal',
  'earnPoints',
  'reversePointsTransaction',
  'reverseTransaction',
  'spendPoints',
  'voidHold',
]

/** The one error status that is not a problem: the health report is the body of its 503. */
const NOT_PROBLEMS = new Set(['getHealth 503'])

let t: TestApp
let document: Document
let admin: SignedUpUser

beforeAll(async () => {
  t = await createTestApp()
  const response = await t.app.inject({ method: 'GET', url: '/openapi.json' })
  expect(response.statusCode).toBe(200)
  document = response.json<Document>()
  admin = await signUp(t, { roles: ['admin'] })
})

afterAll(async () => {
  await t?.close()
})

function operations(): Array<{ method: string; path: string; operation: Operation; id: string }> {
  return Object.entries(document.paths).flatMap(([path, byMethod]) =>
    Object.entries(byMethod).map(([method, operation]) => ({
      method,
      path,
      operation,
      id: operation.operationId ?? `${method.toUpperCase()} ${path}`,
    })),
  )
}

function resolve<T>(node: T & { $ref?: string }): T {
  if (!node.$ref) return node
  const [, , section, name] = node.$ref.split('/')
  const target = (document.components as unknown as Record<string, Record<string, T>>)[section!]?.[name!]
  expect(target, `${node.$ref} resolves`).toBeDefined()
  return target!
}

function headersOf(response: Response): Record<string, Header> {
  return resolve(response).headers ?? {}
}

/** A URL of the operation's path, with made-up but well-formed parameters. */
function urlOf(path: string): string {
  const values: Record<string, string> = { base: 'USD', quote: 'EUR', code: 'ABCD' }
  return path.replace(/\{([^}]+)\}/g, (_match, name: string) => values[name] ?? randomUUID())
}

describe('operations', () => {
  it('has a unique camelCase operationId, starting with a verb, on every operation', () => {
    const ids = operations().map(({ id }) => id)
    expect(ids.length).toBeGreaterThan(60)
    for (const id of ids) {
      expect(id, id).toMatch(/^[a-z]+[A-Za-z]*$/)
      expect(VERBS.has(id.match(/^[a-z]+/)![0]), `${id} starts with a verb`).toBe(true)
    }
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('tags every operation with a declared, described tag, and describes every operation', () => {
    const declared = new Map((document.tags ?? []).map((tag) => [tag.name, tag.description]))
    for (const [name, description] of declared) expect(description, `tag ${name}`).toMatch(/\w{3}/)
    for (const { id, operation } of operations()) {
      expect(operation.tags?.length, `${id} has a tag`).toBe(1)
      for (const tag of operation.tags ?? []) expect(declared.has(tag), `${id}: tag ${tag}`).toBe(true)
      expect(operation.summary, `${id} summary`).toMatch(/\w/)
      expect(operation.description?.length ?? 0, `${id} description`).toBeGreaterThan(10)
    }
  })

  it('declares security on every operation, empty exactly where the server asks for no credential', async () => {
    const mismatches: string[] = []
    for (const { id, method, path, operation } of operations()) {
      expect(operation.security, `${id} declares security`).toBeInstanceOf(Array)
      const declaredPublic = operation.security!.length === 0
      if (!declaredPublic) expect(operation.security).toEqual([{ bearer: [] }])
      const response = await t.app.inject({ method: method.toUpperCase() as 'GET', url: urlOf(path) })
      const answeredPublic = response.statusCode !== 401
      if (declaredPublic !== answeredPublic) {
        mismatches.push(
          `${id}: declares ${declaredPublic ? 'public' : 'bearer'}, answered ${response.statusCode}`,
        )
      }
    }
    expect(mismatches).toEqual([])
  })

  it('describes its parameters, and requires Idempotency-Key on the money-moving POSTs only', () => {
    const takingKey = operations()
      .filter(({ operation }) =>
        (operation.parameters ?? []).some((p) => p.in === 'header' && p.name === 'idempotency-key'),
      )
      .map(({ id }) => id)
    expect(takingKey.sort()).toEqual(IDEMPOTENT_OPERATIONS)
    for (const { id, operation } of operations()) {
      for (const parameter of operation.parameters ?? []) {
        expect(parameter.description, `${id}: ${parameter.in} ${parameter.name}`).toMatch(/\w/)
        if (parameter.name !== 'idempotency-key') continue
        expect(parameter.required, `${id}: Idempotency-Key is required`).toBe(true)
        expect(parameter.schema).toMatchObject({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' })
      }
    }
  })

  it('still answers a missing Idempotency-Key with its own problem, not a schema error', async () => {
    const wallet = await openWallet(t, admin.headers, 'USD')
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/v1/wallets/${wallet.id}/deposits`,
      headers: admin.headers,
      payload: { amount: '1.00' },
    })
    expect(response.statusCode).toBe(400)
    expect(response.json<Problem>().code).toBe('idempotency_key_required')
  })
})

describe('responses', () => {
  it('declares every error as application/problem+json with the Problem schema', () => {
    const offenders: string[] = []
    for (const { id, operation } of operations()) {
      const statuses = Object.keys(operation.responses ?? {})
      expect(
        statuses.some((s) => s.startsWith('2')),
        `${id} has a success response`,
      ).toBe(true)
      expect(
        statuses.some((s) => s.startsWith('4')),
        `${id} has a 4xx response`,
      ).toBe(true)
      for (const [status, declared] of Object.entries(operation.responses ?? {})) {
        if (Number(status) < 400 || NOT_PROBLEMS.has(`${id} ${status}`)) continue
        const content = resolve(declared).content ?? {}
        if (Object.keys(content).join() !== 'application/problem+json') offenders.push(`${id} ${status}`)
        else if (content['application/problem+json']?.schema?.$ref !== '#/components/schemas/Problem') {
          offenders.push(`${id} ${status}: not the Problem schema`)
        }
      }
    }
    expect(offenders).toEqual([])
  })

  it('gives Problem.code the enum of every code of the catalogue', () => {
    const problem = document.components.schemas.Problem!
    expect(problem.additionalProperties).toBe(true)
    expect(problem.properties?.code?.enum).toEqual(errorCatalogue().map((definition) => definition.code))
  })

  it('declares X-Request-Id on every response, Retry-After on 429 and 503, Idempotency-Replayed on replays', () => {
    const missing: string[] = []
    for (const { id, operation } of operations()) {
      const idempotent = IDEMPOTENT_OPERATIONS.includes(id)
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const headers = headersOf(response)
        const want = [
          'X-Request-Id',
          ...((status === '429' || status === '503') && !NOT_PROBLEMS.has(`${id} ${status}`)
            ? ['Retry-After']
            : []),
          ...(idempotent && ['201', '202', '409', '422'].includes(status) ? ['Idempotency-Replayed'] : []),
        ]
        for (const name of want) if (!headers[name]) missing.push(`${id} ${status}: ${name}`)
      }
    }
    expect(missing).toEqual([])
  })

  it('declares Location where the server sends it, and the statement file headers', async () => {
    const byId = new Map(operations().map(({ id, operation }) => [id, operation]))
    const header = (id: string, status: string, name: string) =>
      headersOf(byId.get(id)!.responses![status]!)[name]
    expect(header('createWebhook', '201', 'Location')).toBeDefined()
    expect(header('createOperation', '202', 'Location')).toBeDefined()
    expect(header('getWalletStatement', '202', 'Location')).toBeDefined()
    expect(header('getWalletStatement', '202', 'Retry-After')).toBeDefined()
    expect(header('downloadStatementFile', '200', 'ETag')).toBeDefined()
    expect(header('downloadStatementFile', '200', 'Content-Disposition')).toBeDefined()
    expect(header('downloadStatementFile', '409', 'Retry-After')).toBeDefined()

    // The answer the document describes: a 202 operation with its Location.
    const wallet = await openWallet(t, admin.headers, 'USD')
    const accepted = await postMoney(t, admin.headers, '/api/v1/operations', {
      type: 'deposit',
      walletId: wallet.id,
      amount: '1.00',
    })
    expect(accepted.statusCode, accepted.body).toBe(202)
    expect(accepted.headers.location).toMatch(/^\/api\/v1\/operations\//)
    expect(accepted.headers['x-request-id']).toEqual(expect.any(String))
  })

  it('keeps every member of a problem body, extensions included', async () => {
    const wallet = await openWallet(t, admin.headers, 'EUR')
    const invalid = await postMoney(t, admin.headers, `/api/v1/wallets/${wallet.id}/deposits`, { amount: 1 })
    expect(invalid.statusCode).toBe(400)
    expect(invalid.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(invalid.json<Problem>()).toMatchObject({
      code: 'invalid_request',
      status: 400,
      errors: expect.any(Array),
      requestId: invalid.headers['x-request-id'],
      instance: `/api/v1/wallets/${wallet.id}/deposits`,
    })

    // A refusal recorded with its key, answered and replayed from the record.
    const key = `openapi-${randomUUID()}`
    const short = () =>
      postMoney(t, admin.headers, `/api/v1/wallets/${wallet.id}/withdrawals`, { amount: '5.00' }, key)
    const first = await short()
    const replay = await short()
    for (const refusal of [first, replay]) {
      expect(refusal.statusCode).toBe(422)
      expect(refusal.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(refusal.json<Problem>()).toMatchObject({
        code: 'insufficient_funds',
        available: '0.00',
        requested: '5.00',
        detail: expect.any(String),
      })
    }
    expect(replay.headers['idempotency-replayed']).toBe('true')
  })
})

describe('schemas', () => {
  it('names every component schema in PascalCase, none def-N, and every $ref resolves', () => {
    const names = Object.keys(document.components.schemas)
    expect(names).toEqual(expect.arrayContaining(['Wallet', 'WalletList', 'Transaction', 'Entry', 'Hold']))
    for (const name of names) expect(name).toMatch(/^[A-Z][A-Za-z0-9]*$/)
    const text = JSON.stringify(document)
    expect(text).not.toMatch(/def-\d/)
    for (const [, ref] of text.matchAll(/"\$ref":"([^"]+)"/g)) {
      const [, , section, name] = ref!.split('/')
      expect(
        (document.components as unknown as Record<string, Record<string, unknown>>)[section!]?.[name!],
        ref,
      ).toBeDefined()
    }
  })

  it('refers to the named request and response schemas instead of repeating them', () => {
    const deposit = document.paths['/api/v1/wallets/{id}/deposits']!.post!
    expect(deposit.requestBody?.content?.['application/json']?.schema).toEqual({
      $ref: '#/components/schemas/MovementRequest',
    })
    expect(deposit.responses?.['201']?.content?.['application/json']?.schema).toEqual({
      $ref: '#/components/schemas/Transaction',
    })
    expect(document.components.schemas.WalletList?.properties?.items).toMatchObject({
      items: { $ref: '#/components/schemas/Wallet' },
    })
  })

  it('makes transaction type and status enums of what the ledger writes', async () => {
    const { schemas } = document.components
    expect(schemas.Transaction?.properties?.type).toEqual({ $ref: '#/components/schemas/TransactionType' })
    expect(schemas.Transaction?.properties?.status).toEqual({
      $ref: '#/components/schemas/TransactionStatus',
    })
    expect(schemas.WalletHistoryItem?.properties?.type).toEqual({
      $ref: '#/components/schemas/TransactionType',
    })
    expect(schemas.TransactionType).toMatchObject({ type: 'string', enum: [...TRANSACTION_TYPES] })
    const statuses = schemas.TransactionStatus?.enum ?? []

    const payer = await openWallet(t, admin.headers, 'GBP', randomUUID())
    const payee = await openWallet(t, admin.headers, 'GBP', randomUUID())
    await fund(t, admin.headers, payer.id, '50.00')
    const moves = [
      postMoney(t, admin.headers, '/api/v1/transfers', {
        fromWalletId: payer.id,
        toWalletId: payee.id,
        amount: '1.00',
      }),
      postMoney(t, admin.headers, `/api/v1/wallets/${payer.id}/withdrawals`, { amount: '1.00' }),
      postMoney(t, admin.headers, '/api/v1/purchases', {
        walletId: payer.id,
        merchant: 'shop-1',
        amount: '1.00',
      }),
      postMoney(t, admin.headers, '/api/v1/holds', {
        walletId: payer.id,
        merchant: 'shop-1',
        amount: '1.00',
      }),
    ]
    for (const response of await Promise.all(moves)) expect(response.statusCode, response.body).toBe(201)
    const written = await t.database.db
      .selectFrom('transactions')
      .select(['type', 'status'])
      .distinct()
      .execute()
    expect(written.length).toBeGreaterThanOrEqual(5)
    for (const row of written) {
      expect(TRANSACTION_TYPES as readonly string[], row.type).toContain(row.type)
      expect(statuses, row.status).toContain(row.status)
    }
  })

  it('makes the other closed sets enums too', () => {
    const { schemas } = document.components
    const enumOf = (name: string) => resolve(schemas[name] ?? {}).enum
    expect(enumOf('WalletStatus')).toEqual(['active', 'frozen', 'closed'])
    expect(enumOf('HoldStatus')).toEqual(['pending', 'captured', 'voided', 'expired'])
    expect(enumOf('Role')).toEqual(['user', 'admin', 'service'])
    expect(enumOf('StatementJobStatus')).toEqual(['queued', 'running', 'done', 'failed'])
    expect(enumOf('OperationStatus')).toEqual(['accepted', 'succeeded', 'failed'])
    expect([...(enumOf('PointsTransactionType') ?? [])].sort()).toEqual(
      TRANSACTION_TYPES.filter((type) => type.startsWith('points_')).sort(),
    )
  })
})

describe('the document', () => {
  it('has the info, servers and tags a linter asks for', () => {
    expect(document.info.description).toMatch(/\w/)
    expect(document.info.license).toEqual({ name: 'MIT', url: expect.stringMatching(/^https:/) })
    expect(document.info.contact).toBeDefined()
    expect(document.servers).toEqual([expect.objectContaining({ url: '/' })])
  })
})
