import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { principalOf } from '../auth/access.js'
import type { RenderRefusal } from '../ledger/group-commit.js'
import { callerScope, type KeyClaim, type RecordedAnswer } from '../ledger/idempotency-keys.js'
import { IdempotencyKeyRequired } from './idempotency.errors.js'
import { PROBLEM_CONTENT_TYPE, problemBody } from './problem-handler.js'

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key'
export const IDEMPOTENCY_REPLAYED_HEADER = 'idempotency-replayed'
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8'
const ACCEPTABLE_KEY = /^[\x21-\x7e]{1,255}$/

/** JSON with object keys sorted, so {a,b} and {b,a} are the same request. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/**
 * What tells a retry from another request: method, route, params and body. A movement of a
 * batch is fingerprinted as the single request it stands for, so either can retry the other.
 */
export function requestFingerprint(method: string, url: string, params: unknown, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${url}\n`)
    .update(canonicalJson(params ?? {}))
    .update('\n')
    .update(canonicalJson(body ?? null))
    .digest('base64url')
}

function fingerprintOf(request: FastifyRequest): string {
  return requestFingerprint(
    request.method,
    request.routeOptions.url ?? request.url,
    request.params,
    request.body,
  )
}

/**
 * Idempotency-Key handling (IETF draft-ietf-httpapi-idempotency-key-header), keyed by caller: a
 * money-moving request becomes a claim on its key, is posted through the ledger's entry point
 * (`IdempotentWriter` in src/ledger/group-commit.ts, which records, replays and refuses), and its
 * answer, first or replayed, is written to the reply byte for byte.
 *
 * `post` gets the claim (caller, key, fingerprint of method, route, params and body) and the
 * renderer of a refusal's stored body (problem+json of this request). Without a usable
 * Idempotency-Key header the request is a 400 before anything runs.
 */
export async function replyIdempotently(
  request: FastifyRequest,
  reply: FastifyReply,
  post: (claim: KeyClaim, renderRefusal: RenderRefusal) => Promise<RecordedAnswer>,
): Promise<void> {
  const key = request.headers[IDEMPOTENCY_KEY_HEADER]
  if (typeof key !== 'string' || !ACCEPTABLE_KEY.test(key)) throw new IdempotencyKeyRequired()
  const claim: KeyClaim = {
    scope: callerScope(principalOf(request)),
    key,
    fingerprint: fingerprintOf(request),
  }
  const stored = await post(claim, (error) => problemBody(error, request))
  if (stored.replayed) reply.header(IDEMPOTENCY_REPLAYED_HEADER, 'true')
  // Awaiting the reply resolves when the response has been written, so the handler can
  // resolve with nothing and Fastify does not try to send a second time.
  await reply
    .status(stored.status)
    .type(stored.status >= 400 ? PROBLEM_CONTENT_TYPE : JSON_CONTENT_TYPE)
    .send(stored.body)
}
