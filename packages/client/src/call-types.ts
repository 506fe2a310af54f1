/**
 * The signatures of the client's calls: openapi-fetch's, keyed on `paths`, with the error branch
 * gone (a non-2xx answer throws) and an `idempotencyKey` option.
 */
import type { Client, ClientPathsWithMethod, FetchResponse, MaybeOptionalInit, ParseAs } from 'openapi-fetch'
import type { ClientPaths, HttpMethod } from './api-types.js'

type AnyMedia = `${string}/${string}`

type RequiredKeysOf<T> = {
  [Key in keyof T]-?: Record<never, never> extends Pick<T, Key> ? never : Key
}[keyof T]

export interface CofferCallOptions {
  /**
   * The Idempotency-Key of this logical operation. Without it the client makes one per call for
   * operations that need one; pass your own to keep one key across your own retries (e.g. one per
   * form submission), so a second submission is answered from the first.
   */
  idempotencyKey?: string
}

/**
 * The init argument: required when the operation has required parameters or a required body.
 * It is computed from the path, not inferred from the argument, so a misspelt body member is an
 * excess property and fails to compile.
 */
export type CallInit<Init, Options = CofferCallOptions> =
  RequiredKeysOf<Init> extends never ? [(Init & Options)?] : [Init & Options]

export type PathsWith<Method extends HttpMethod> = ClientPathsWithMethod<Client<ClientPaths>, Method>

export type OperationInit<Path extends keyof ClientPaths, Method extends HttpMethod> = MaybeOptionalInit<
  ClientPaths[Path],
  Method
>

type SuccessOf<Operation, Init> =
  Operation extends Record<string | number, unknown>
    ? Exclude<FetchResponse<Operation, Init, AnyMedia>, { error: unknown }>
    : never

/** A 2xx answer: its body, parsed as `parseAs` says (JSON by default), and the Response for headers. */
export interface CofferResult<Data> {
  data: Data
  response: Response
}

export type ResultOf<Path extends keyof ClientPaths, Method extends HttpMethod, Init> = CofferResult<
  SuccessOf<ClientPaths[Path][Method & keyof ClientPaths[Path]], Init>['data']
>

export type CofferMethod<Method extends HttpMethod> = <
  Path extends PathsWith<Method>,
  As extends ParseAs = 'json',
>(
  path: Path,
  ...init: CallInit<OperationInit<Path, Method> & { parseAs?: As }>
) => Promise<ResultOf<Path, Method, { parseAs: As }>>
