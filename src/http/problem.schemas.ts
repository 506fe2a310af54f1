import { STATUS_CODES } from 'node:http'
import { Type } from 'typebox'
import { errorCatalogue } from '../error-catalogue.js'

/** The media type of every error answer (the server adds `; charset=utf-8`). */
export const PROBLEM_MEDIA_TYPE = 'application/problem+json'

const catalogue = errorCatalogue()

/** RFC 9457 problem details, as every error of the API is shaped. */
export const Problem = Type.Object(
  {
    type: Type.String({ description: 'A URI naming the problem type: urn:coffer:problem:<code>' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String({ description: 'What went wrong, in words a person can act on' }),
    // Every code of the catalogue, so a generated client has their union; typed as a string here
    // because the list is only known once the catalogue is loaded.
    code: Type.Unsafe<string>({
      type: 'string',
      enum: catalogue.map((definition) => definition.code),
      description: 'Stable error code; see docs/errors.md',
    }),
    requestId: Type.String({ description: 'The X-Request-Id of the answer: quote it when reporting' }),
    instance: Type.Optional(Type.String({ description: 'The path of the request' })),
  },
  {
    $id: 'Problem',
    additionalProperties: true,
    description:
      'RFC 9457 problem details. Some codes add members of their own (errors, retryAfter, available, ...), as docs/errors.md lists them.',
  },
)

/** A problem answer as a route declares it: problem+json with the Problem schema. */
export interface ProblemResponse {
  description: string
  content: { [PROBLEM_MEDIA_TYPE]: { schema: typeof Problem } }
}

/**
 * What a problem answer of this status means, with the codes that come with it, so a reader of a
 * generated client sees which codes to branch on.
 */
export function problemDescription(status: number): string {
  const codes = catalogue.filter((definition) => definition.status === status).map(({ code }) => code)
  const reason = STATUS_CODES[status] ?? `Status ${status}`
  return codes.length > 0 ? `${reason}: ${codes.join(', ')}` : reason
}

export function problemResponse(status: number): ProblemResponse {
  return { description: problemDescription(status), content: { [PROBLEM_MEDIA_TYPE]: { schema: Problem } } }
}

/** Declares problem responses for the given statuses in a route schema. */
export function problemResponses(...statuses: number[]): Record<number, ProblemResponse> {
  return Object.fromEntries(statuses.map((status) => [status, problemResponse(status)]))
}
