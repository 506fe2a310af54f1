import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { uuidv7 } from 'uuidv7'
import { type AppError, problemType } from '../errors.js'
import type { App } from './app-type.js'
import { InternalError } from './http.errors.js'
import {
  HeadersTooLarge,
  MalformedRequest,
  MalformedUrl,
  RequestTimeout,
  UriTooLong,
} from './input.errors.js'
import { INPUT_LIMITS } from './input.schemas.js'
import {
  bodyTooDeep,
  forbiddenCharacterIn,
  forbiddenCharacterProblem,
  jsonNestsDeeperThan,
} from './input-checks.js'
import type { OpenApiDocument, OpenApiResponse } from './openapi-document.js'
import { PROBLEM_CONTENT_TYPE, sendProblem } from './problem-handler.js'
import { REQUEST_ID_HEADER } from './request-id.js'

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** Fastify's router refuses a longer path parameter with FST_ERR_MAX_PARAM_LENGTH (414). */
export const MAX_PARAM_LENGTH = 100

/**
 * What every request passes before its route sees it:
 * - JSON bodies nest at most INPUT_LIMITS.bodyDepth levels, checked on the text before parsing;
 *   an empty body is no body, so a route that takes none may be called with `content-type` set;
 * - no string anywhere in the body, the query string or the path (object keys included) holds a
 *   control character or an unpaired surrogate, whatever the route's schema says;
 * - every POST, PUT, PATCH and DELETE route declares a body schema (NoBody for none), or the app
 *   refuses to start, as it does for a route without an access rule.
 */
export function registerInputGuards(app: App): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string
    if (text === '') return done(null, undefined)
    if (jsonNestsDeeperThan(text, INPUT_LIMITS.bodyDepth)) return done(bodyTooDeep(INPUT_LIMITS.bodyDepth))
    return parseJson(request, text, done)
  })

  app.addHook('preValidation', async (request) => {
    const issue =
      forbiddenCharacterIn(request.params, 'params') ??
      forbiddenCharacterIn(request.query, 'querystring') ??
      forbiddenCharacterIn(request.body, 'body')
    if (issue) throw forbiddenCharacterProblem(issue)
  })

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    const takesBody = methods.some((method) => METHODS_WITH_BODY.has(method))
    if (takesBody && route.schema?.body === undefined) {
      throw new Error(
        `route ${methods.join(',')} ${route.url} declares no body schema; declare one, or NoBody if it takes none`,
      )
    }
  })
}

function frameworkProblem(error: FastifyError): AppError {
  if (error.code === 'FST_ERR_BAD_URL') return new MalformedUrl()
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return new UriTooLong({ maxLength: MAX_PARAM_LENGTH })
  return new InternalError()
}

/**
 * Errors the router answers before any hook or the error handler runs (a bad percent-encoding,
 * a path parameter past MAX_PARAM_LENGTH), made problem+json like every other answer.
 */
export function answerFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const problem = frameworkProblem(error)
  if (problem.status >= 500) request.log.error({ err: error }, 'request failed')
  else request.log.info({ code: problem.code, reason: error.message }, 'request rejected')
  reply.header(REQUEST_ID_HEADER, request.id)
  sendProblem(reply, problem)
}

/**
 * What Node's HTTP parser refuses before there is a request (not HTTP, headers too large, too
 * slow), answered as problem+json on the socket, as Fastify's default handler answers JSON.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  // A reset connection has no one to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const problem =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new RequestTimeout()
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? new HeadersTooLarge()
        : new MalformedRequest()
  const body = JSON.stringify({
    type: problemType(problem.code),
    title: problem.definition.title,
    status: problem.status,
    detail: problem.detail,
    code: problem.code,
    requestId: uuidv7(),
  })
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy(error)
}

/**
 * What the input guards add to every operation, said in /openapi.json: a body that may be left
 * out (an object whose fields are all optional, NoBody included, as the validator lets through)
 * is not required, where @fastify/swagger marks every declared body required; any operation may
 * answer 400 and 422 (a forbidden character anywhere, a body nested too deep), 414 when its path
 * has a parameter, and 413 and 415 when it takes a body (too large, not JSON).
 */
export function documentInputRules(
  document: OpenApiDocument,
  problemResponse: (status: number) => OpenApiResponse,
): void {
  const schemas = document.components?.schemas ?? {}
  for (const [path, byMethod] of Object.entries(document.paths ?? {})) {
    for (const operation of Object.values(byMethod)) {
      const body = operation.requestBody
      const declared = body?.content?.['application/json']?.schema
      const schema = declared?.$ref ? schemas[declared.$ref.split('/').pop() ?? ''] : declared
      if (body && schema?.type === 'object' && (schema.required ?? []).length === 0) body.required = false
      operation.responses ??= {}
      const responses = operation.responses
      const statuses = [400, 422, ...(path.includes('{') ? [414] : []), ...(body ? [413, 415] : [])]
      for (const status of statuses) responses[status] ??= problemResponse(status)
    }
  }
}
