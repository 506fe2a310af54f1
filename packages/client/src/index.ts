export type {
  ApiPath,
  ClientPaths,
  HttpMethod,
  IdempotentOperation,
  Problem,
  ProblemCode,
  ProblemCodeOf,
  RequestBody,
  SuccessBody,
} from './api-types.js'
export type { CofferCallOptions, CofferMethod, CofferResult } from './call-types.js'
export {
  type CofferClient,
  type CofferClientOptions,
  createCofferClient,
  type RegisterDetails,
  type RegisteredUser,
  type StatementAnswer,
  type StatementJob,
  type StatementOptions,
  type StatementPath,
  type WaitForStatementJobOptions,
} from './coffer-client.js'
export { type DownloadAs, type DownloadedFile, filenameOfContentDisposition } from './downloads.js'
export {
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENCY_REPLAYED_HEADER,
  newIdempotencyKey,
  requiresIdempotencyKey,
} from './idempotency-key.js'
export { CofferHttpError, CofferProblemError, isProblem } from './problem-error.js'
export { DEFAULT_RETRY_POLICY, IDEMPOTENCY_KEY_IN_FLIGHT, type RetryOptions } from './retry-policy.js'
export type { components, paths } from './schema.js'
export type { CofferTokens, TokensListener } from './token-session.js'
export type { Fetch } from './transport.js'
