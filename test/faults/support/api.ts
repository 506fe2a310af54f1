import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'

/** No request may take longer: past it, the request counts as a hang. */
export const REQUEST_TIMEOUT_MS = 15_000

export interface Answer {
  /** The HTTP status; 0 when there was no response (connection refused or reset, timeout). */
  status: number
  /** Why there was no response: 'timeout' (a hang past REQUEST_TIMEOUT_MS) or 'connection'. */
  failure?: 'timeout' | 'connection'
  headers: Headers
  body: unknown
}

export interface CallOptions {
  token?: string
  key?: string
  body?: unknown
  headers?: Record<string, string>
}

export async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  if (options.key) headers['idempotency-key'] = options.key
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  try {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    const text = await response.text()
    let body: unknown = text
    try {
      body = text ? JSON.parse(text) : null
    } catch {
      // not JSON: kept as text for the failure message
    }
    return { status: response.status, headers: response.headers, body }
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError'
    return { status: 0, failure: timedOut ? 'timeout' : 'connection', headers: new Headers(), body: null }
  }
}

export const ADMIN_EMAIL = 'faults-admin@example.test'
export const ADMIN_PASSWORD = 'fault-suite-admin-password'

/** Settings every fault test gives `coffer start`. */
export function cofferEnv(databaseUrl: string): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    COFFER_ADMIN_EMAIL: ADMIN_EMAIL,
    COFFER_ADMIN_PASSWORD: ADMIN_PASSWORD,
    ACCESS_TOKEN_TTL_SECONDS: '3600',
    DB_CONNECT_RETRIES: '30',
    DB_CONNECT_RETRY_DELAY_MS: '500',
  }
}

export interface User {
  email: string
  token: string
  walletId: string
}

export interface Ledger {
  /** A service API key: deposits into any wallet. */
  serviceKey: string
  users: User[]
}

function expectStatus(answer: Answer, expected: number, what: string): void {
  if (answer.status !== expected) {
    throw new Error(`${what}: expected ${expected}, got ${answer.status} ${JSON.stringify(answer.body)}`)
  }
}

export async function signIn(baseUrl: string, email: string, password: string): Promise<Answer> {
  return call(baseUrl, 'POST', '/api/v1/auth/sign-in', { body: { email, password } })
}

export async function signedInToken(baseUrl: string, email: string, password: string): Promise<string> {
  const answer = await signIn(baseUrl, email, password)
  expectStatus(answer, 200, `sign-in of ${email}`)
  return (answer.body as { accessToken: string }).accessToken
}

export const USER_PASSWORD = 'fault-suite-user-password'

/** A service key and `userCount` users with a funded USD wallet each (100.00). */
export async function prepareLedger(baseUrl: string, userCount: number): Promise<Ledger> {
  const adminToken = await signedInToken(baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD)
  const created = await call(baseUrl, 'POST', '/api/v1/api-keys', {
    token: adminToken,
    body: { name: 'fault-load', roles: ['service'] },
  })
  expectStatus(created, 201, 'api key')
  const serviceKey = (created.body as { key: string }).key
  const users: User[] = []
  for (let i = 0; i < userCount; i++) {
    const email = `faults-${randomUUID()}@example.test`
    expectStatus(
      await call(baseUrl, 'POST', '/api/v1/auth/register', { body: { email, password: USER_PASSWORD } }),
      201,
      'register',
    )
    const token = await signedInToken(baseUrl, email, USER_PASSWORD)
    const wallet = await call(baseUrl, 'POST', '/api/v1/wallets', { token, body: { currency: 'USD' } })
    if (wallet.status !== 200 && wallet.status !== 201) expectStatus(wallet, 201, 'open wallet')
    const walletId = (wallet.body as { id: string }).id
    const funded = await call(baseUrl, 'POST', `/api/v1/wallets/${walletId}/deposits`, {
      token: serviceKey,
      key: randomUUID(),
      body: { amount: '100.00', reference: `funding-${walletId}` },
    })
    expectStatus(funded, 201, 'funding deposit')
    users.push({ email, token, walletId })
  }
  return { serviceKey, users }
}

/** One money-moving request of the load, kept with its answer so it can be replayed. */
export interface Movement {
  key: string
  path: string
  token: string
  body: Record<string, unknown>
  answer: Answer
}

function pick<T>(items: T[]): T {
  return items[Math.floor(Math.random() * items.length)]!
}

/** Deposits and transfers, each with its own Idempotency-Key (also its reference). */
export function nextMovement(ledger: Ledger): Omit<Movement, 'answer'> {
  const key = `fault-${randomUUID()}`
  if (Math.random() < 0.5) {
    const to = pick(ledger.users)
    return {
      key,
      path: `/api/v1/wallets/${to.walletId}/deposits`,
      token: ledger.serviceKey,
      body: { amount: '1.00', reference: key },
    }
  }
  const from = pick(ledger.users)
  const to = pick(ledger.users.filter((u) => u !== from))
  return {
    key,
    path: '/api/v1/transfers',
    token: from.token,
    body: { fromWalletId: from.walletId, toWalletId: to.walletId, amount: '0.01', reference: key },
  }
}

export function send(baseUrl: string, movement: Omit<Movement, 'answer'>): Promise<Answer> {
  return call(baseUrl, 'POST', movement.path, {
    token: movement.token,
    key: movement.key,
    body: movement.body,
  })
}

export interface LoadOptions {
  concurrency: number
  /** Pause of each loop between two requests, so the load is steady rather than flat out. */
  pauseMs: number
  /** Hard bound on requests, whatever happens. */
  maxRequests: number
}

/**
 * Steady concurrent movements against one base URL until stop(); every request and its answer is
 * kept. Other requests (reads, sign-ins) may be mixed in with `extra`.
 */
export class Load {
  readonly movements: Movement[] = []
  readonly others: { what: string; answer: Answer }[] = []
  private stopped = false
  private loops: Promise<void>[] = []

  constructor(
    private readonly baseUrl: () => string,
    private readonly ledger: Ledger,
    private readonly options: LoadOptions,
    private readonly extra?: () => Promise<{ what: string; answer: Answer }>,
  ) {}

  get sent(): number {
    return this.movements.length + this.others.length
  }

  /** Starts (or, after stop(), restarts) the loops. */
  start(): void {
    this.stopped = false
    this.loops = Array.from({ length: this.options.concurrency }, (_, index) => this.loop(index))
  }

  async stop(): Promise<void> {
    this.stopped = true
    await Promise.all(this.loops)
  }

  private async loop(index: number): Promise<void> {
    while (!this.stopped && this.sent < this.options.maxRequests) {
      if (this.extra && index % 2 === 1) {
        this.others.push(await this.extra())
      } else {
        const movement = nextMovement(this.ledger)
        this.movements.push({ ...movement, answer: await send(this.baseUrl(), movement) })
      }
      await sleep(this.options.pauseMs)
    }
  }

  /** Answers that break the promise: a 5xx other than 503, a hang, or (when the server is up) no answer. */
  failures(options: { connectionErrorsAllowed: boolean }): Answer[] {
    return [...this.movements.map((m) => m.answer), ...this.others.map((o) => o.answer)].filter(
      (answer) =>
        (answer.status >= 500 && answer.status !== 503) ||
        answer.failure === 'timeout' ||
        (answer.failure === 'connection' && !options.connectionErrorsAllowed),
    )
  }

  count(predicate: (answer: Answer) => boolean): number {
    return [...this.movements.map((m) => m.answer), ...this.others.map((o) => o.answer)].filter(predicate)
      .length
  }
}

export const acknowledged = (answer: Answer) => answer.status >= 200 && answer.status < 300

/** A summary line for docs/reliability.md, printed past Vitest's capture and kept under .tmp/. */
export async function reportSummary(line: string): Promise<void> {
  const { appendFile, mkdir } = await import('node:fs/promises')
  process.stderr.write(`${line}\n`)
  await mkdir('.tmp', { recursive: true })
  await appendFile('.tmp/fault-summary.log', `${new Date().toISOString()} ${line}\n`)
}
