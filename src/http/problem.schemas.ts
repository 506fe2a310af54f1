import { Type } from 'typebox'

/** RFC 9457 problem details, as every error of the API is shaped. */
export const Problem = Type.Object(
  {
    type: Type.String({ description: 'A URI naming the problem type: urn:coffer:problem:<code>' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable error code; see docs/errors.md' }),
    requestId: Type.String(),
    instance: Type.Optional(Type.String()),
  },
  { $id: 'Problem', additionalProperties: true, description: 'RFC 9457 problem details' },
)

/** Declares problem responses for the given statuses in a route schema. */
export function problemResponses(...statuses: number[]): Record<number, typeof Problem> {
  return Object.fromEntries(statuses.map((status) => [status, Problem]))
}
