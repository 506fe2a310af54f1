import createClient, { type HeadersOptions, type Middleware, mergeHeaders } from 'openapi-fetch'
import type { ApiPath, ClientPaths, RequestBody, SuccessBody } from './api-types.js'
import type { CallInit, CofferCallOptions, CofferMethod, OperationInit, PathsWith } from './call-types.js'
import {
  type DownloadAs,
  type DownloadBody,
  type DownloadedFile,
  downloadedFile,
  readBody,
} from './downloads.js'
import { IDEMPOTENCY_KEY_HEADER, idempotencyKeyMiddleware } from './idempotency-key.js'
import { CofferHttpError, CofferProblemError, errorOfResponse } from './problem-error.js'
import { type RetryOptions, retryAfterMs, retryPolicyOf, sleep } from './retry-policy.js'
import {
  anonymous,
  apiKeyCredentials,
  type CofferTokens,
  type Credentials,
  type RefreshOutcome,
  TokenSession,
  type TokensListener,
} from './token-session.js'
import { createTransport, type Fetch } from './transport.js'

export interface CofferClientOptions {
  /** Where Coffer answers, e.g. `https://wallet.example.com`; `''` for the page's own origin in a browser. */
  baseUrl: string
  /** A service's API key (`ck_...`), sent as the bearer of every call and never refreshed. */
  apiKey?: string
  /** The fetch to send through; the platform's by default. */
  fetch?: Fetch
  /** Retries of network errors, 503s and in-flight 409s; `false` turns them off. */
  retry?: RetryOptions | false
  /** Tokens of an earlier sign-in (e.g. from sessionStorage), to carry on that session. */
  tokens?: CofferTokens | null
  /** Told of each new token pair and of `null` when the session ends, to persist them. */
  onTokens?: TokensListener
}

export type RegisterDetails = RequestBody<'/api/v1/auth/register', 'post'>
export type RegisteredUser = SuccessBody<'/api/v1/auth/register', 'post'>
export type StatementJob = SuccessBody<'/api/v1/statements/{jobId}', 'get'>
export type StatementPath = Extract<ApiPath, '/api/v1/wallets/{id}/statement' | '/api/v1/points/statement'>

export interface StatementOptions extends CofferCallOptions {
  /** Ask for a job (202) even for a statement the server could answer at once (`Prefer: respond-async`). */
  respondAsync?: boolean
}

/** A statement asked for: the file at once, or a job to follow until its file is ready. */
export type StatementAnswer<Body> =
  | { kind: 'file'; file: DownloadedFile<Body> }
  | {
      kind: 'job'
      job: StatementJob
      /** Where the job's progress is (Location). */
      location: string | null
      /** When the server suggests looking again (Retry-After), in ms. */
      retryAfterMs: number | null
    }

export interface WaitForStatementJobOptions {
  /** Between polls when the server suggests nothing shorter. Default 1000 ms. */
  pollMs?: number
  /** Told of each poll's job, e.g. to move a progress bar with `job.progress.percent`. */
  onProgress?: (job: StatementJob) => void
  signal?: AbortSignal
}

export interface CofferClient {
  GET: CofferMethod<'get'>
  POST: CofferMethod<'post'>
  PUT: CofferMethod<'put'>
  PATCH: CofferMethod<'patch'>
  DELETE: CofferMethod<'delete'>
  /**
   * A file answer of a GET (a statement's CSV or PDF, a statement job's file), read as
   * `parseAs` says: `'blob'` (the default), `'text'`, `'stream'` or `'arrayBuffer'`.
   */
  download<Path extends PathsWith<'get'>, As extends DownloadAs = 'blob'>(
    path: Path,
    ...init: CallInit<OperationInit<Path, 'get'> & { parseAs?: As }>
  ): Promise<DownloadedFile<DownloadBody<As>>>
  /** A statement: the file when the server answers at once (200), the job when it makes one (202). */
  requestStatement<Path extends StatementPath, As extends DownloadAs = 'blob'>(
    path: Path,
    ...init: CallInit<OperationInit<Path, 'get'> & { parseAs?: As }, StatementOptions>
  ): Promise<StatementAnswer<DownloadBody<As>>>
  /** Polls a statement job until it is done or failed, and answers it as it ended. */
  waitForStatementJob(jobId: string, options?: WaitForStatementJobOptions): Promise<StatementJob>
  /** Registers a user, then signs in as them. */
  signUp(details: RegisterDetails): Promise<{ user: RegisteredUser; tokens: CofferTokens }>
  /** Signs in; the client then sends the access token and rotates it with the refresh token. */
  signIn(email: string, password: string): Promise<CofferTokens>
  /** Ends the session on the server and forgets its tokens (also when the server had ended it already). */
  signOut(): Promise<void>
  /** The tokens of the signed-in session, null when signed out (or with an API key). */
  readonly tokens: CofferTokens | null
  /** Adds openapi-fetch middleware to every call (after the client's own, which sets Idempotency-Key). */
  use(...middleware: Middleware[]): void
}

type LooseInit = { [option: string]: unknown }
type LooseRequest = (
  method: string,
  path: string,
  init?: LooseInit,
) => Promise<{ data?: unknown; error?: unknown; response: Response }>

/**
 * A Coffer client: typed calls by path on openapi-fetch, which throw `CofferProblemError` for
 * problem answers, with sign-in and refresh-token rotation (or an API key), one Idempotency-Key
 * per logical money-moving call and safe retries with backoff.
 */
export function createCofferClient(options: CofferClientOptions): CofferClient {
  const retry = retryPolicyOf(options.retry)
  const baseFetch: Fetch = options.fetch ?? ((request) => globalThis.fetch(request))
  const session =
    options.apiKey === undefined ? new TokenSession(options.tokens ?? null, options.onTokens, exchange) : null
  const credentials: Credentials = session ?? apiKeyCredentials(options.apiKey ?? '')

  function openapiClient(callerCredentials: Credentials) {
    const client = createClient<ClientPaths>({
      baseUrl: options.baseUrl,
      fetch: createTransport({ fetch: baseFetch, retry, credentials: callerCredentials }),
    })
    client.use(idempotencyKeyMiddleware)
    return client
  }
  const signedIn = openapiClient(credentials)
  // Register, sign-in and refresh carry no bearer: an expired one must not stand in their way.
  const withoutBearer = openapiClient(anonymous)
  const sendSignedIn = signedIn.request as unknown as LooseRequest
  const sendWithoutBearer = withoutBearer.request as unknown as LooseRequest

  async function call(
    send: LooseRequest,
    method: string,
    path: string,
    init: LooseInit = {},
  ): Promise<{ data: unknown; response: Response }> {
    const { idempotencyKey, ...rest } = init
    const sent =
      typeof idempotencyKey === 'string'
        ? {
            ...rest,
            headers: mergeHeaders(rest.headers as HeadersOptions | undefined, {
              [IDEMPOTENCY_KEY_HEADER]: idempotencyKey,
            }),
          }
        : rest
    const { data, error, response } = await send(method, path, sent)
    if (!response.ok) throw errorOfResponse(response, error)
    return { data, response }
  }

  async function exchange(refreshToken: string): Promise<RefreshOutcome> {
    try {
      const { data } = await call(sendWithoutBearer, 'POST', '/api/v1/auth/refresh', {
        body: { refreshToken },
      })
      return { kind: 'rotated', tokens: tokensOf(data) }
    } catch (error) {
      // Coffer's own refusal ends the session; rate limiting, server trouble or a proxy's answer
      // say nothing about the refresh token, which is kept for a later try.
      if (error instanceof CofferProblemError && error.status !== 429 && error.status < 500) {
        return { kind: 'refused' }
      }
      if (error instanceof CofferHttpError) return { kind: 'no-verdict' }
      throw error
    }
  }

  function method(name: string) {
    return (path: string, init?: LooseInit) => call(sendSignedIn, name, path, init)
  }

  async function download(path: string, init: LooseInit = {}) {
    const as = downloadAs(init.parseAs)
    const { response } = await call(sendSignedIn, 'GET', path, { ...init, parseAs: 'stream' })
    return downloadedFile(response, await readBody(response, as))
  }

  async function requestStatement(path: string, init: LooseInit = {}) {
    const { respondAsync, ...rest } = init
    const as = downloadAs(rest.parseAs)
    const headers =
      respondAsync === true
        ? mergeHeaders(rest.headers as HeadersOptions, { Prefer: 'respond-async' })
        : rest.headers
    const { response } = await call(sendSignedIn, 'GET', path, { ...rest, headers, parseAs: 'stream' })
    if (response.status === 202) {
      return {
        kind: 'job' as const,
        job: (await response.json()) as StatementJob,
        location: response.headers.get('location'),
        retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
      }
    }
    return { kind: 'file' as const, file: downloadedFile(response, await readBody(response, as)) }
  }

  async function waitForStatementJob(
    jobId: string,
    wait: WaitForStatementJobOptions = {},
  ): Promise<StatementJob> {
    const pollMs = wait.pollMs ?? 1000
    for (;;) {
      const { data } = await call(sendSignedIn, 'GET', '/api/v1/statements/{jobId}', {
        params: { path: { jobId } },
        signal: wait.signal,
      })
      const job = data as StatementJob
      wait.onProgress?.(job)
      if (job.status === 'done' || job.status === 'failed') return job
      await sleep(pollMs, wait.signal)
    }
  }

  async function signIn(email: string, password: string): Promise<CofferTokens> {
    if (session === null)
      throw new Error('This client signs in with an API key: create another one to sign in users')
    const { data } = await call(sendWithoutBearer, 'POST', '/api/v1/auth/sign-in', {
      body: { email, password },
    })
    const tokens = tokensOf(data)
    session.set(tokens)
    return tokens
  }

  async function signUp(details: RegisterDetails) {
    const { data } = await call(sendWithoutBearer, 'POST', '/api/v1/auth/register', { body: details })
    const tokens = await signIn(details.email, details.password)
    return { user: data as RegisteredUser, tokens }
  }

  async function signOut(): Promise<void> {
    if (session?.tokens == null) return
    try {
      await call(sendSignedIn, 'POST', '/api/v1/auth/sign-out')
    } catch (error) {
      // A session the server ended already (revoked, expired refresh) is as signed out as this one wants.
      if (!(error instanceof CofferProblemError && error.status === 401)) throw error
    } finally {
      if (session.tokens !== null) session.set(null)
    }
  }

  const client = {
    GET: method('GET'),
    POST: method('POST'),
    PUT: method('PUT'),
    PATCH: method('PATCH'),
    DELETE: method('DELETE'),
    download,
    requestStatement,
    waitForStatementJob,
    signIn,
    signUp,
    signOut,
    get tokens() {
      return session?.tokens ?? null
    },
    use(...middleware: Middleware[]) {
      signedIn.use(...middleware)
      withoutBearer.use(...middleware)
    },
  }
  // The typed signatures are CofferClient's; the implementation passes inits through untyped.
  return client as unknown as CofferClient
}

function downloadAs(parseAs: unknown): DownloadAs {
  return parseAs === 'text' || parseAs === 'stream' || parseAs === 'arrayBuffer' ? parseAs : 'blob'
}

function tokensOf(data: unknown): CofferTokens {
  const pair = data as Partial<CofferTokens> | undefined
  if (typeof pair?.accessToken !== 'string' || typeof pair.refreshToken !== 'string') {
    throw new TypeError('The token answer has no accessToken and refreshToken')
  }
  return { accessToken: pair.accessToken, refreshToken: pair.refreshToken }
}
