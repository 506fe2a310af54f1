import type { Fetch } from '../../packages/client/src/index.js'

/** What a test reads of a request the client sent. */
export interface SentRequest {
  method: string
  path: string
  authorization: string | null
  idempotencyKey: string | null
}

function sentOf(request: Request): SentRequest {
  return {
    method: request.method,
    path: new URL(request.url).pathname,
    authorization: request.headers.get('authorization'),
    idempotencyKey: request.headers.get('idempotency-key'),
  }
}

/** The platform's fetch, noting each request in `sent` as it goes. */
export function recordingFetch(sent: SentRequest[], next: Fetch = (request) => fetch(request)): Fetch {
  return (request) => {
    sent.push(sentOf(request))
    return next(request)
  }
}

/**
 * A connection that drops once, on the first request `matches`: with `after: 'answer'` the server
 * has done the work and answered, but the client never sees it (the case idempotency keys exist
 * for); with `after: 'nothing'` the request never leaves.
 */
export function dropsOnce(matches: (request: Request) => boolean, after: 'answer' | 'nothing'): Fetch {
  let dropped = false
  return async (request) => {
    if (dropped || !matches(request)) return fetch(request)
    dropped = true
    if (after === 'answer') {
      const answered = await fetch(request)
      await answered.arrayBuffer()
    }
    throw new TypeError('fetch failed: connection reset by the test')
  }
}

/** Answers the first request `matches` with `answer` instead of sending it, as a proxy or load balancer might. */
export function answersOnce(matches: (request: Request) => boolean, answer: () => Response): Fetch {
  let answered = false
  return async (request) => {
    if (answered || !matches(request)) return fetch(request)
    answered = true
    return answer()
  }
}

export function problemResponse(
  status: number,
  code: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(
    JSON.stringify({
      type: `urn:coffer:problem:${code}`,
      title: code,
      status,
      detail: `injected ${code}`,
      code,
      requestId: 'injected',
    }),
    { status, headers: { 'content-type': 'application/problem+json', ...headers } },
  )
}
