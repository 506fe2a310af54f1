import type { Problem, ProblemCode } from './api-types.js'

const REQUEST_ID_HEADER = 'X-Request-Id'

/** An answer outside 2xx that is not a Coffer problem (e.g. a proxy's 502 page, or a 304). */
export class CofferHttpError extends Error {
  override readonly name: string = 'CofferHttpError'
  readonly status: number
  /** The request id of the answer (X-Request-Id), to quote to support; null when absent. */
  readonly requestId: string | null
  /** The answer, whose body has been read into `body`. */
  readonly response: Response
  /** The body: parsed JSON when it was JSON, its text otherwise, undefined when empty. */
  readonly body: unknown

  constructor(response: Response, body: unknown, message?: string, requestId?: string | null) {
    super(message ?? `HTTP ${response.status} ${response.statusText}`.trim())
    this.status = response.status
    this.response = response
    this.body = body
    this.requestId = requestId ?? response.headers.get(REQUEST_ID_HEADER)
  }
}

/**
 * A problem+json answer of the API (RFC 9457). `code` is the stable error code of
 * docs/errors.md; narrow on it with `isProblem(error, 'insufficient_funds')`.
 */
export class CofferProblemError<Code extends ProblemCode = ProblemCode> extends CofferHttpError {
  override readonly name: string = 'CofferProblemError'
  readonly code: Code
  readonly title: string
  /** A sentence for people: show this, not the JSON. */
  readonly detail: string
  /** The whole body, extension members (e.g. `available`, `requested`, `errors`) included. */
  readonly problem: Problem<Code>

  constructor(response: Response, problem: Problem<Code>) {
    super(
      response,
      problem,
      `${problem.status} ${problem.code}: ${problem.detail}`,
      typeof problem.requestId === 'string' ? problem.requestId : null,
    )
    this.code = problem.code
    this.title = problem.title
    this.detail = problem.detail
    this.problem = problem
  }
}

function looksLikeProblem(body: unknown): body is Problem {
  if (typeof body !== 'object' || body === null) return false
  const members = body as Record<string, unknown>
  return (
    typeof members.code === 'string' &&
    typeof members.detail === 'string' &&
    typeof members.title === 'string'
  )
}

/** The error a non-2xx answer becomes: a typed problem when the body is one, a plain HTTP error otherwise. */
export function errorOfResponse(response: Response, body: unknown): CofferHttpError {
  const contentType = response.headers.get('content-type') ?? ''
  const problemContent = /^application\/(problem\+)?json/i.test(contentType)
  if (problemContent && looksLikeProblem(body)) {
    return new CofferProblemError(response, body)
  }
  return new CofferHttpError(response, body === '' ? undefined : body)
}

/**
 * Whether `error` is a Coffer problem, and with `code`, that problem: `isProblem(error,
 * 'insufficient_funds')` narrows `error.problem` to it.
 */
export function isProblem<Code extends ProblemCode>(
  error: unknown,
  code: Code,
): error is CofferProblemError<Code>
export function isProblem(error: unknown): error is CofferProblemError
export function isProblem(error: unknown, code?: ProblemCode): boolean {
  return error instanceof CofferProblemError && (code === undefined || error.code === code)
}
