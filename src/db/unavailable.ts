/**
 * One answer to "did this fail because the database is unavailable?", for every caller: the HTTP
 * edge (503 database_unavailable instead of 500), group commit (fail a batch at once instead of
 * retrying it movement by movement), and the worker (back off instead of running on schedule).
 * It knows node-postgres, pg-pool, Node sockets and PGlite; it knows nothing of HTTP.
 *
 * A statement the database refused (a constraint, a syntax error, a serialization failure) is not
 * "unavailable": retrying it later would fail the same way, so it stays a 500 to be fixed.
 */

/**
 * SQLSTATEs of a server that cannot serve now but will: class 08 (connection exceptions) is
 * matched by prefix; these are the others.
 */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown: the server is stopping (pg_ctl stop/restart -m fast)
  '57P02', // crash_shutdown: another backend crashed, the server is resetting
  '57P03', // cannot_connect_now: the server is starting up or shutting down
  '53300', // too_many_connections
])

/** Errors of a socket that never connected or lost its peer. */
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
])

/**
 * Messages of errors that carry no code: node-postgres when a connection ends under a query or
 * a client is used after its connection died, pg-pool's connect timeouts and a pool or Kysely used
 * while the process shuts down, PGlite closed under a query.
 */
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/, // "... unexpectedly", "... due to connection timeout"
  /^timeout exceeded when trying to connect$/,
  /^timeout expired$/,
  /^Client has encountered a connection error and is not queryable$/,
  /^Client was closed and is not queryable$/,
  /^Cannot use a pool after calling end on the pool$/,
  /^driver has already been destroyed$/,
  /^PGlite is clos(ed|ing)$/,
]

/** WebAssembly is a global of Node that this project's type libraries (ES2023, no DOM) do not declare. */
const WasmRuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: ErrorConstructor } })
  .WebAssembly.RuntimeError

/** How deep a chain of causes is followed; a loop of causes must not hang the classifier. */
const MAX_CAUSE_DEPTH = 8

export function isDatabaseUnavailable(error: unknown): boolean {
  return classify(error, 0)
}

function classify(error: unknown, depth: number): boolean {
  if (depth > MAX_CAUSE_DEPTH || error === null || typeof error !== 'object') return false
  // pg's connect of a host with several addresses (localhost: ::1 and 127.0.0.1) fails with all.
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.every((inner) => classify(inner, depth + 1))
  }
  // PGlite's WASM aborted (out of memory, a bug in the build): it answers nothing more.
  if (error instanceof WasmRuntimeError) return true
  const { code, message, cause } = error as { code?: unknown; message?: unknown; cause?: unknown }
  if (typeof code === 'string') {
    if (code.length === 5 && (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code))) return true
    if (UNAVAILABLE_SOCKET_CODES.has(code)) return true
  }
  if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message))) {
    return true
  }
  return cause !== undefined && classify(cause, depth + 1)
}
