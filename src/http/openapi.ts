import { STATUS_CODES } from 'node:http'
import swagger from '@fastify/swagger'
import type { FastifySchema } from 'fastify'
import type { App } from './app-type.js'
import { IDEMPOTENCY_KEY_HEADER } from './idempotency.js'
import { documentInputRules } from './input-guard.js'
import {
  type JsonObject,
  type OpenApiDocument,
  type OpenApiOperation,
  type OpenApiResponse,
  SCHEMA_REF_PREFIX,
} from './openapi-document.js'
import { PROBLEM_MEDIA_TYPE, problemDescription } from './problem.schemas.js'

/**
 * /openapi.json as a client generator can trust it. @fastify/swagger builds it from the route
 * schemas; this module adds what the routes leave implicit:
 * - a TypeBox schema with an `$id` is one named component, `#/components/schemas/<$id>`,
 *   referenced wherever a request body or a response uses it (parameters stay inline: OpenAPI
 *   describes them one by one);
 * - every error answer is application/problem+json with the Problem schema, one shared response
 *   per status in `components.responses`;
 * - the headers the server sends: X-Request-Id on every answer, Idempotency-Replayed on the
 *   answers of idempotent operations, Retry-After on 429 and 503;
 * - Idempotency-Key is required where a route takes it. The routes validate it themselves, so
 *   that a request without one gets the dedicated 400 idempotency_key_required.
 */

const COMPONENT_NAME = /^[A-Z][A-Za-z0-9]*$/

/** The tags of the API, in the order a reader meets them. */
export const API_TAGS = [
  { name: 'auth', description: 'Register, sign in, refresh and sign out; sessions; the signing keys (JWKS)' },
  { name: 'api-keys', description: 'API keys for other back ends (admin)' },
  {
    name: 'wallets',
    description: 'Wallets, their balances and history; deposits, withdrawals and transfers',
  },
  { name: 'payments', description: 'Purchases from a merchant and reversals (refunds)' },
  { name: 'holds', description: 'Reserved funds: authorise now, capture or void later' },
  { name: 'exchange', description: 'Exchange rates, quotes and currency exchanges between wallets' },
  { name: 'currencies', description: 'The currencies and custom assets the ledger accepts' },
  { name: 'points', description: 'Loyalty points: lots that lapse, spending, adjustments and earning rules' },
  {
    name: 'statements',
    description: 'Wallet and points statements as JSON, CSV or PDF; jobs for long periods',
  },
  { name: 'operations', description: 'Money movements accepted now and applied asynchronously' },
  { name: 'batches', description: 'Many movements in one request, each with its own idempotency key' },
  {
    name: 'webhooks',
    description: 'Event subscriptions, their deliveries and replays (admins and services)',
  },
  { name: 'users', description: 'The directory of users (admins)' },
  {
    name: 'admin',
    description: "Operators' views: the outbox backlog, dead letters and worker jobs (admins)",
  },
  { name: 'health', description: 'Liveness, readiness, dependency health and Prometheus metrics' },
]

const HEADERS = {
  RequestId: {
    description:
      "The id of this request, also the problem body's requestId and the log lines' requestId: the caller's own X-Request-Id when it sent a usable one, otherwise a new UUIDv7",
    schema: { type: 'string' },
  },
  IdempotencyReplayed: {
    description:
      'true when this answer was recorded for an earlier request with the same Idempotency-Key and is replayed as it was (refusals included); absent on a first answer',
    schema: { type: 'string', enum: ['true'] },
  },
  RetryAfter: {
    description:
      'Seconds to wait before retrying, when the cause is passing (rate_limited, too_many_statement_jobs, database_unavailable)',
    schema: { type: 'integer', minimum: 0 },
  },
} as const

const headerRef = (name: keyof typeof HEADERS) => ({ $ref: `#/components/headers/${name}` })

/** Refusals of an idempotent operation that are recorded with its key, so may be replays. */
const REPLAYABLE_PROBLEM_STATUSES = new Set([400, 403, 404, 409, 422])

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function mapValues<T>(record: JsonObject, map: (value: unknown, key: string) => T): Record<string, T> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, map(value, key)]))
}

/** A copy of `node` where every named subschema but `root` is a reference to its component. */
function referenceNamed(node: unknown, root?: unknown): unknown {
  if (Array.isArray(node)) return node.map((item) => referenceNamed(item))
  if (!isObject(node)) return node
  if (node !== root && typeof node.$id === 'string') return { $ref: `${SCHEMA_REF_PREFIX}${node.$id}` }
  return mapValues(node, (value) => referenceNamed(value))
}

/** A copy of `node` with no `$id`: parameters are described inline, one by one. */
function withoutIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutIds)
  if (!isObject(node)) return node
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key]) => key !== '$id')
      .map(([key, value]) => [key, withoutIds(value)]),
  )
}

/** JSON with sorted keys, so two schemas compare by content. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (isObject(value)) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/** The body and response schemas of a route: where named schemas become components. */
function bodyAndResponseSchemas(schema: FastifySchema): unknown[] {
  const responses = isObject(schema.response) ? Object.values(schema.response) : []
  return [
    schema.body,
    ...responses.flatMap((response) =>
      isObject(response) && isObject(response.content)
        ? Object.values(response.content).map((media) => (isObject(media) ? media.schema : undefined))
        : [response],
    ),
  ]
}

/**
 * The named schemas the routes use, collected as routes are added (the document takes its
 * components before it reads the routes). One name must mean one schema: a second, different
 * schema under a name already taken is a conflict, which fails the document.
 */
class NamedSchemas {
  readonly components: Record<string, unknown> = {}
  readonly conflicts: string[] = []
  private readonly seen = new Map<string, string>()

  collect(node: unknown, where: string): void {
    if (Array.isArray(node)) {
      for (const item of node) this.collect(item, where)
      return
    }
    if (!isObject(node)) return
    const id = node.$id
    if (typeof id === 'string') {
      const text = canonicalJson(node)
      const known = this.seen.get(id)
      if (known !== undefined) {
        if (known !== text) this.conflicts.push(`${where}: a different schema is also named ${id}`)
        return
      }
      if (!COMPONENT_NAME.test(id)) this.conflicts.push(`${where}: schema name ${id} is not PascalCase`)
      this.seen.set(id, text)
      this.components[id] = referenceNamed(node, node)
    }
    for (const value of Object.values(node)) this.collect(value, where)
  }
}

function documentedResponse(status: string, response: unknown): unknown {
  if (!isObject(response)) return response
  if (isObject(response.content)) {
    return {
      ...response,
      content: mapValues(response.content, (media) =>
        isObject(media) ? { ...media, schema: referenceNamed(media.schema) } : media,
      ),
    }
  }
  const description =
    typeof response.description === 'string' ? response.description : (STATUS_CODES[status] ?? status)
  if (response.type === 'null') return { ...response, description }
  // @fastify/swagger's own form: a body schema with the response's headers beside its keywords.
  const { headers, ...body } = response
  return {
    description,
    ...(headers === undefined ? {} : { headers }),
    content: { 'application/json': { schema: referenceNamed(body) } },
  }
}

function documentedHeaders(headers: unknown): unknown {
  if (!isObject(headers) || !isObject(headers.properties)) return headers
  const key = headers.properties[IDEMPOTENCY_KEY_HEADER]
  if (!isObject(key)) return headers
  const required = Array.isArray(headers.required) ? headers.required : []
  return {
    ...headers,
    required: [...new Set([...required, IDEMPOTENCY_KEY_HEADER])],
    properties: {
      ...headers.properties,
      // What replyIdempotently accepts (src/http/idempotency.ts).
      [IDEMPOTENCY_KEY_HEADER]: { ...key, minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
    },
  }
}

/** The route's schema as the document describes it; the route itself keeps its own. */
function documentedRoute(schema: FastifySchema): FastifySchema {
  const { body, querystring, params, headers, response } = schema
  return {
    ...schema,
    ...(body === undefined ? {} : { body: referenceNamed(body) }),
    ...(querystring === undefined ? {} : { querystring: withoutIds(querystring) }),
    ...(params === undefined ? {} : { params: withoutIds(params) }),
    ...(headers === undefined ? {} : { headers: documentedHeaders(withoutIds(headers)) }),
    ...(isObject(response)
      ? { response: mapValues(response, (value, status) => documentedResponse(status, value)) }
      : {}),
  }
}

function isProblemResponse(response: OpenApiResponse): boolean {
  return response.content?.[PROBLEM_MEDIA_TYPE]?.schema?.$ref === `${SCHEMA_REF_PREFIX}Problem`
}

/** `Not Found` → `NotFound`: the name of the shared problem response of a status. */
function problemResponseName(status: number): string {
  return (STATUS_CODES[status] ?? `Status ${status}`)
    .split(/[^A-Za-z0-9]+/)
    .filter((word) => word !== '')
    .map((word) => `${word[0]!.toUpperCase()}${word.slice(1).toLowerCase()}`)
    .join('')
}

function standardHeaders(
  status: number,
  declared: Record<string, unknown>,
  options: { replayed: boolean; retryAfter: boolean },
): Record<string, unknown> {
  return {
    'X-Request-Id': headerRef('RequestId'),
    ...(options.replayed ? { 'Idempotency-Replayed': headerRef('IdempotencyReplayed') } : {}),
    ...(options.retryAfter && (status === 429 || status === 503)
      ? { 'Retry-After': headerRef('RetryAfter') }
      : {}),
    ...declared,
  }
}

/**
 * The shared problem response of a status, and its variant for idempotent operations, whose
 * refusals are recorded with the key and so may be replays.
 */
function sharedProblemResponse(status: number, replayable: boolean): [string, OpenApiResponse] {
  const name = `${replayable ? 'Idempotent' : ''}${problemResponseName(status)}`
  return [
    name,
    {
      description: problemDescription(status),
      headers: standardHeaders(status, {}, { replayed: replayable, retryAfter: true }),
      content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: `${SCHEMA_REF_PREFIX}Problem` } } },
    },
  ]
}

/**
 * What every operation may answer beyond its own statuses (the input guards' ones are added by
 * documentInputRules): 401 where a credential is needed, 500, and 503 (the database is
 * unavailable, or the server is shutting down).
 */
function addCommonProblems(operation: OpenApiOperation): void {
  operation.responses ??= {}
  const responses = operation.responses
  const statuses = [...((operation.security ?? []).length > 0 ? [401] : []), 500, 503]
  for (const status of statuses) responses[status] ??= problemDescribed(status)
}

/** A problem answer as @fastify/swagger would have rendered problemResponse(status). */
function problemDescribed(status: number): OpenApiResponse {
  return {
    description: problemDescription(status),
    content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: `${SCHEMA_REF_PREFIX}Problem` } } },
  }
}

function completeDocument(document: OpenApiDocument, named: NamedSchemas): OpenApiDocument {
  if (named.conflicts.length > 0) {
    throw new Error(`/openapi.json: schema names conflict:\n${named.conflicts.join('\n')}`)
  }
  documentInputRules(document, problemDescribed)
  const shared = new Map<string, OpenApiResponse>()
  for (const byMethod of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(byMethod)) {
      addCommonProblems(operation)
      const idempotent = (operation.parameters ?? []).some(
        (parameter) => parameter.in === 'header' && parameter.name === IDEMPOTENCY_KEY_HEADER,
      )
      const responses = operation.responses ?? {}
      for (const [key, response] of Object.entries(responses)) {
        const status = Number(key)
        const declared = response.headers ?? {}
        const replayed = idempotent && (status < 300 || REPLAYABLE_PROBLEM_STATUSES.has(status))
        if (isProblemResponse(response) && Object.keys(declared).length === 0) {
          const [name, sharedResponse] = sharedProblemResponse(status, replayed)
          shared.set(name, sharedResponse)
          responses[key] = { $ref: `#/components/responses/${name}` }
          continue
        }
        response.headers = standardHeaders(status, declared, {
          replayed,
          retryAfter: isProblemResponse(response),
        })
      }
    }
  }
  document.components ??= {}
  const components = document.components
  components.responses = Object.fromEntries([...shared].sort(([a], [b]) => a.localeCompare(b)))
  components.headers = HEADERS
  return document
}

/**
 * Registers @fastify/swagger with Coffer's conventions; call it before any route is added, so
 * that the named schemas of every route are collected.
 */
export async function registerOpenApi(app: App): Promise<void> {
  const named = new NamedSchemas()
  // The route schemas as declared, for the document: Fastify compiles the copies below.
  const declared = new WeakMap<object, FastifySchema>()
  app.addHook('onRoute', (route) => {
    const { schema } = route
    if (!schema) return
    declared.set(route, schema)
    if (!schema.hide) {
      for (const part of bodyAndResponseSchemas(schema)) named.collect(part, `${route.method} ${route.url}`)
    }
    // The response serializer compiles with ajv, which refuses a schema holding one $id twice
    // (Me holds Role in its roles and in user.roles), so it gets the responses without names.
    // Only responses: the request validators (TypeBox) need the schemas as TypeBox made them.
    if (isObject(schema.response)) route.schema = { ...schema, response: withoutIds(schema.response) }
  })

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Coffer',
        version: '1',
        description:
          'Wallets and a double-entry ledger: deposits, withdrawals, transfers, purchases, holds, exchanges, loyalty points and statements. Amounts are decimal strings in the major unit. Errors are RFC 9457 problem+json with a stable `code` (docs/errors.md). Money-moving POSTs take an Idempotency-Key: a retry with the same key is answered from the first request.',
        license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
        contact: { name: 'Coffer maintainers' },
      },
      // Relative: the document describes the server that serves it, wherever it runs.
      servers: [{ url: '/', description: 'The server that serves this document' }],
      tags: API_TAGS,
      components: {
        // JSON Schema as TypeBox writes it, which @fastify/swagger converts like the routes'
        // schemas; its types want openapi-types' schema objects.
        schemas: named.components as Record<string, never>,
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'An access token from POST /api/v1/auth/sign-in, or an API key (ck_...)',
          },
        },
      },
    },
    refResolver: {
      // Any $id schema the transform did not turn into a reference keeps its name, where the
      // default would call it def-N (and write its $id into its title).
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    transform: ({ schema, url, route }) => {
      const original = declared.get(route) ?? schema
      return { schema: original ? documentedRoute(original) : original, url }
    },
    transformObject: (documentObject) =>
      'openapiObject' in documentObject
        ? completeDocument(documentObject.openapiObject as OpenApiDocument, named)
        : documentObject.swaggerObject,
  })
}
