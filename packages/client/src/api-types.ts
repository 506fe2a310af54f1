/**
 * Types derived from the generated `paths` only, never from component names, so they keep
 * compiling while the OpenAPI document gains names, enums and content types.
 */
import type { paths } from './schema.js'

export type HttpMethod = 'get' | 'put' | 'post' | 'delete' | 'options' | 'head' | 'patch' | 'trace'

export type ApiPath = keyof paths & string

type OperationOf<Path extends ApiPath, Method extends HttpMethod> = paths[Path][Method & keyof paths[Path]]

/** True when the operation lists an Idempotency-Key header, required or optional. */
type DeclaresIdempotencyKey<Operation> = Operation extends { parameters: { header?: infer Header } }
  ? [NonNullable<Header>] extends [never]
    ? false
    : 'idempotency-key' extends keyof NonNullable<Header>
      ? true
      : false
  : false

/**
 * `"POST /api/v1/transfers"` and every other operation whose OpenAPI declares the
 * Idempotency-Key header: the client generates a key for these when the caller gives none.
 */
export type IdempotentOperation = {
  [Path in ApiPath]: {
    [Method in HttpMethod]: DeclaresIdempotencyKey<OperationOf<Path, Method>> extends true
      ? `${Uppercase<Method>} ${Path}`
      : never
  }[HttpMethod]
}[ApiPath]

type WithOptionalIdempotencyKey<Operation> =
  DeclaresIdempotencyKey<Operation> extends true
    ? Operation extends { parameters: infer Parameters extends { header?: unknown } }
      ? Omit<Operation, 'parameters'> & {
          parameters: Omit<Parameters, 'header'> & {
            header?: Omit<NonNullable<Parameters['header']>, 'idempotency-key'> & {
              'idempotency-key'?: string
            }
          }
        }
      : Operation
    : Operation

/**
 * `paths` as callers of the client see them: the Idempotency-Key header the API requires is
 * optional here, because the client supplies one per logical call (or takes `idempotencyKey`).
 */
export type ClientPaths = {
  [Path in keyof paths]: {
    [Key in keyof paths[Path]]: Key extends HttpMethod
      ? WithOptionalIdempotencyKey<paths[Path][Key]>
      : paths[Path][Key]
  }
}

/** Whether a response key of the generated types (a number like 404, or a string) is a 4xx or 5xx. */
type IsErrorStatus<Status> = `${Status & (string | number)}` extends `4${string}` | `5${string}`
  ? true
  : false

type ContentBodies<Response> = Response extends { content: infer Content }
  ? Content extends Record<string, unknown>
    ? Content[keyof Content]
    : never
  : never

type ErrorBodiesOf<Operation> = Operation extends { responses: infer Responses }
  ? {
      [Status in keyof Responses]: IsErrorStatus<Status> extends true
        ? ContentBodies<Responses[Status]>
        : never
    }[keyof Responses]
  : never

type OperationsOf<Paths> = {
  [Path in keyof Paths]: { [Method in HttpMethod]: Paths[Path][Method & keyof Paths[Path]] }[HttpMethod]
}[keyof Paths]

/**
 * The union of the `code`s an API's error answers declare: the enum of the error catalogue once
 * the document has one, `string` while it does not.
 */
export type ProblemCodeOf<Paths> = [
  Extract<ErrorBodiesOf<OperationsOf<Paths>>, { code: unknown }>['code'],
] extends [infer Code]
  ? [Code] extends [never]
    ? string
    : Code & string
  : never

/** The `code`s of Coffer's problems (docs/errors.md). */
export type ProblemCode = ProblemCodeOf<paths>

/** An RFC 9457 problem+json body as Coffer sends it, extension members (e.g. `available`) included. */
export interface Problem<Code extends ProblemCode = ProblemCode> {
  /** urn:coffer:problem:<code> */
  type: string
  title: string
  status: number
  /** A sentence for people. */
  detail: string
  /** The stable error code of docs/errors.md. */
  code: Code
  requestId: string
  instance?: string
  [member: string]: unknown
}

type IsSuccessStatus<Status> = `${Status & (string | number)}` extends `2${string}` ? true : false

/** The JSON body of an operation's 2xx answers. */
export type SuccessBody<Path extends ApiPath, Method extends HttpMethod> =
  OperationOf<Path, Method> extends {
    responses: infer Responses
  }
    ? {
        [Status in keyof Responses]: IsSuccessStatus<Status> extends true
          ? ContentBodies<Responses[Status]>
          : never
      }[keyof Responses]
    : never

/** The JSON body an operation takes. */
export type RequestBody<Path extends ApiPath, Method extends HttpMethod> =
  OperationOf<Path, Method> extends {
    requestBody?: infer Body
  }
    ? NonNullable<Body> extends { content: infer Content }
      ? Content extends Record<string, unknown>
        ? Content[keyof Content]
        : never
      : never
    : never
