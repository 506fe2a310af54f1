import {
  CofferHttpError,
  CofferProblemError,
  type CofferTokens,
  createCofferClient,
  type DownloadedFile,
  newIdempotencyKey,
} from '@coffer/client'

/**
 * The console's one client. Tokens live in sessionStorage (through the client's onTokens) so a reload
 * keeps the session while closing the tab ends it; nothing long-lived is left in the browser.
 */

const TOKENS_KEY = 'coffer.console.tokens'

function storedTokens(): CofferTokens | undefined {
  const stored = window.sessionStorage.getItem(TOKENS_KEY)
  if (!stored) return undefined
  try {
    const parsed: unknown = JSON.parse(stored)
    if (isTokenPair(parsed)) return { accessToken: parsed.accessToken, refreshToken: parsed.refreshToken }
    console.warn('Ignoring a stored session without its two tokens')
  } catch (error) {
    // A corrupt entry is a signed-out session, not a crash: drop it and say why in the console.
    console.warn('Ignoring unreadable stored session', error)
  }
  window.sessionStorage.removeItem(TOKENS_KEY)
  return undefined
}

function isTokenPair(value: unknown): value is CofferTokens {
  const pair = value as Partial<CofferTokens> | null
  return typeof pair?.accessToken === 'string' && typeof pair.refreshToken === 'string'
}

type TokenListener = (tokens: CofferTokens | null) => void
const tokenListeners = new Set<TokenListener>()

export function onTokensChange(listener: TokenListener): () => void {
  tokenListeners.add(listener)
  return () => tokenListeners.delete(listener)
}

export function hasStoredSession(): boolean {
  return window.sessionStorage.getItem(TOKENS_KEY) !== null
}

export const coffer = createCofferClient({
  // The console is served by the Coffer it talks to: same origin, no CORS, no configuration.
  baseUrl: window.location.origin,
  tokens: storedTokens(),
  onTokens: (tokens) => {
    if (tokens) window.sessionStorage.setItem(TOKENS_KEY, JSON.stringify(tokens))
    else window.sessionStorage.removeItem(TOKENS_KEY)
    for (const listener of tokenListeners) listener(tokens)
  },
})

/**
 * The body of a successful call. The client throws problem answers as CofferProblemError (and other
 * non-2xx answers as CofferHttpError), so a page only reads the data and catches one way.
 */
export async function must<T>(call: Promise<{ data: T }>): Promise<T> {
  return (await call).data
}

/** What a person reads when something failed: the problem's detail, never its JSON. */
export function describeProblem(error: unknown): string {
  if (error instanceof CofferProblemError) return error.detail || error.title
  if (error instanceof CofferHttpError) {
    return `Coffer answered ${error.status}${error.response.statusText ? ` ${error.response.statusText}` : ''}. Try again in a moment.`
  }
  if (isNetworkFailure(error)) return 'Coffer could not be reached. Check your connection and try again.'
  if (error instanceof Error) return error.message
  return 'Something went wrong'
}

/** fetch rejects with a TypeError when no answer came back at all (offline, connection reset). */
export function isNetworkFailure(error: unknown): boolean {
  return error instanceof TypeError
}

export { newIdempotencyKey }

/** The server's file name (Content-Disposition), else a sensible default. */
export function fileNameOf(file: DownloadedFile<unknown>, fallback: string): string {
  return file.filename ?? fallback
}

/** Hands a downloaded body to the browser as a file download with the given name. */
export function saveFile(body: Blob, fileName: string): void {
  const url = URL.createObjectURL(body)
  const anchor = document.createElement('a')
  anchor.href = url
  anchor.download = fileName
  anchor.style.display = 'none'
  document.body.append(anchor)
  anchor.click()
  anchor.remove()
  // Revoked later: revoking at once can cancel the download in some browsers.
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
