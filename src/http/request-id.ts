import type { IncomingMessage } from 'node:http'
import { uuidv7 } from 'uuidv7'

export const REQUEST_ID_HEADER = 'x-request-id'
const ACCEPTABLE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/

/**
 * Honours a caller's X-Request-Id so one id follows a request across services; an id that is too
 * long or carries odd characters is replaced rather than written into logs and headers.
 */
export function requestIdFor(request: IncomingMessage): string {
  const incoming = request.headers[REQUEST_ID_HEADER]
  if (typeof incoming === 'string' && ACCEPTABLE_REQUEST_ID.test(incoming)) return incoming
  return uuidv7()
}
