/** What a sign-in gives: the access token sent as the bearer, and the one-use refresh token. */
export interface CofferTokens {
  accessToken: string
  refreshToken: string
}

/** Told of every new pair (sign-in, each rotation) and of `null` when the session ends, to persist them. */
export type TokensListener = (tokens: CofferTokens | null) => void

/**
 * The server's answer to a refresh: a new pair; a refusal of the refresh token (spent, revoked,
 * expired), which ends the session; or no verdict (rate limited, server trouble), which keeps the
 * tokens for a later try. A refresh that never got an answer rejects instead.
 */
export type RefreshOutcome =
  | { kind: 'rotated'; tokens: CofferTokens }
  | { kind: 'refused' }
  | { kind: 'no-verdict' }

export type ExchangeRefreshToken = (refreshToken: string) => Promise<RefreshOutcome>

/** Who the transport says the caller is, and how it gets a new bearer after a 401. */
export interface Credentials {
  /** The bearer to send now; null sends none. */
  bearer(): string | null
  /**
   * After a 401 of a request sent with `rejectedBearer`: the bearer to retry with once, or null
   * to surface the 401. Absent when the bearer cannot be renewed (API keys).
   */
  renewAfterRejection?(rejectedBearer: string): Promise<string | null>
}

export const anonymous: Credentials = { bearer: () => null }

export function apiKeyCredentials(apiKey: string): Credentials {
  return { bearer: () => apiKey }
}

/**
 * The signed-in user's tokens, with refresh-token rotation: the server spends a refresh token on
 * use, so concurrent 401s must share one refresh; a second refresh with the same token would be
 * taken for a stolen token and end the session.
 */
export class TokenSession implements Credentials {
  #tokens: CofferTokens | null
  readonly #onTokens: TokensListener | undefined
  readonly #exchange: ExchangeRefreshToken
  #refreshing: Promise<string | null> | null = null

  constructor(
    tokens: CofferTokens | null,
    onTokens: TokensListener | undefined,
    exchange: ExchangeRefreshToken,
  ) {
    this.#tokens = tokens
    this.#onTokens = onTokens
    this.#exchange = exchange
  }

  get tokens(): CofferTokens | null {
    return this.#tokens
  }

  set(tokens: CofferTokens | null): void {
    this.#tokens = tokens
    this.#onTokens?.(tokens)
  }

  bearer(): string | null {
    return this.#tokens?.accessToken ?? null
  }

  renewAfterRejection(rejectedBearer: string): Promise<string | null> {
    const current = this.#tokens
    if (current === null) return Promise.resolve(null)
    // Another call already renewed the token this one was sent with: retry with the new one.
    if (current.accessToken !== rejectedBearer) return Promise.resolve(current.accessToken)
    this.#refreshing ??= this.#refresh(current).finally(() => {
      this.#refreshing = null
    })
    return this.#refreshing
  }

  async #refresh(spent: CofferTokens): Promise<string | null> {
    const outcome = await this.#exchange(spent.refreshToken)
    // A sign-in or sign-out while the refresh ran wins over its answer.
    const replacedMeanwhile = this.#tokens?.refreshToken !== spent.refreshToken
    switch (outcome.kind) {
      case 'rotated':
        if (replacedMeanwhile) return this.#tokens?.accessToken ?? null
        this.set(outcome.tokens)
        return outcome.tokens.accessToken
      case 'refused':
        if (!replacedMeanwhile) this.set(null)
        return null
      case 'no-verdict':
        return null
    }
  }
}
