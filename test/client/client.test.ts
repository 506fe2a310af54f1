import { parse } from 'csv-parse/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type CofferClient,
  CofferProblemError,
  type CofferTokens,
  createCofferClient,
  isProblem,
} from '../../packages/client/src/index.js'
import { type RunningStatements, startStatements } from '../../src/worker/statements.js'
import { TEST_PASSWORD } from '../auth-fixtures.js'
import { createStaffUser, freshEmail, type LiveCoffer, startLiveCoffer } from './live-server.js'
import { answersOnce, problemResponse, recordingFetch, type SentRequest } from './transport-faults.js'

const DAY = 86_400_000

let live: LiveCoffer
let admin: CofferClient
/** A service client whose API key the admin made through the API. */
let service: CofferClient
let serviceKeyId: string

/** A user signed up through the client, with the tokens it was told of. */
async function signedUpUser(): Promise<{
  client: CofferClient
  id: string
  email: string
  told: (CofferTokens | null)[]
}> {
  const told: (CofferTokens | null)[] = []
  const client = createCofferClient({ baseUrl: live.baseUrl, onTokens: (tokens) => told.push(tokens) })
  const email = freshEmail()
  const { user } = await client.signUp({ email, password: TEST_PASSWORD, name: 'Client Test' })
  return { client, id: user.id, email, told }
}

async function openWallet(client: CofferClient, currency: string) {
  const { data } = await client.POST('/api/v1/wallets', { body: { currency } })
  return data
}

async function deposit(walletId: string, amount: string) {
  const { data } = await service.POST('/api/v1/wallets/{id}/deposits', {
    params: { path: { id: walletId } },
    body: { amount },
  })
  return data
}

beforeAll(async () => {
  live = await startLiveCoffer()
  const staff = await createStaffUser(live, ['admin'])
  admin = createCofferClient({ baseUrl: live.baseUrl })
  await admin.signIn(staff.email, staff.password)
  const { data: key } = await admin.POST('/api/v1/api-keys', {
    body: { name: 'client-test-service', roles: ['service'] },
  })
  serviceKeyId = key.id
  service = createCofferClient({ baseUrl: live.baseUrl, apiKey: key.key })
})
afterAll(() => live?.close())

describe('sign-up and sign-in', () => {
  it('registers, signs in, reports the tokens and sends them', async () => {
    const alice = await signedUpUser()
    expect(alice.told).toHaveLength(1)
    expect(alice.told[0]).toEqual(alice.client.tokens)
    const { data: me } = await alice.client.GET('/api/v1/auth/me')
    expect(me).toMatchObject({ id: alice.id, roles: ['user'] })

    const again = createCofferClient({ baseUrl: live.baseUrl })
    const tokens = await again.signIn(alice.email, TEST_PASSWORD)
    expect(tokens.refreshToken).not.toBe(alice.client.tokens?.refreshToken)
    expect((await again.GET('/api/v1/auth/me')).data).toMatchObject({ id: alice.id })
  })

  it('signs out: the session ends on the server and the tokens are forgotten', async () => {
    const alice = await signedUpUser()
    const tokens = alice.client.tokens!
    await alice.client.signOut()
    expect(alice.client.tokens).toBeNull()
    expect(alice.told.at(-1)).toBeNull()
    // The old tokens no longer work anywhere, so the sign-out reached the server.
    const stale = createCofferClient({ baseUrl: live.baseUrl, tokens })
    const refused = await stale.GET('/api/v1/auth/me').catch((error: unknown) => error)
    expect(isProblem(refused)).toBe(true)
    expect((refused as CofferProblemError).status).toBe(401)
  })

  it('takes tokens of an earlier sign-in and carries on that session', async () => {
    const alice = await signedUpUser()
    const resumed = createCofferClient({ baseUrl: live.baseUrl, tokens: alice.client.tokens })
    expect((await resumed.GET('/api/v1/auth/me')).data).toMatchObject({ id: alice.id })
  })
})

describe('wallets and money', () => {
  it('opens, lists and gets wallets', async () => {
    const alice = await signedUpUser()
    const usd = await openWallet(alice.client, 'USD')
    const eur = await openWallet(alice.client, 'EUR')
    expect(usd).toMatchObject({ userId: alice.id, currency: 'USD', balance: '0.00', status: 'active' })
    const { data: list } = await alice.client.GET('/api/v1/wallets')
    expect(list.items.map((wallet) => wallet.id).sort()).toEqual([usd.id, eur.id].sort())
    const { data: one } = await alice.client.GET('/api/v1/wallets/{id}', { params: { path: { id: eur.id } } })
    expect(one).toMatchObject({ id: eur.id, currency: 'EUR' })
  })

  it('deposits, and transfers to another user who sees it', async () => {
    const alice = await signedUpUser()
    const bob = await signedUpUser()
    const from = await openWallet(alice.client, 'USD')
    const to = await openWallet(bob.client, 'USD')
    const deposited = await deposit(from.id, '100.00')
    expect(deposited).toMatchObject({ type: 'deposit', amount: '100.00', currency: 'USD' })

    const { data: transfer } = await alice.client.POST('/api/v1/transfers', {
      body: { fromWalletId: from.id, toUserId: bob.id, amount: '30.25', description: 'rent share' },
    })
    expect(transfer).toMatchObject({ type: 'transfer', amount: '30.25' })
    const { data: bobs } = await bob.client.GET('/api/v1/wallets/{id}', { params: { path: { id: to.id } } })
    expect(bobs.balance).toBe('30.25')
    const { data: alices } = await alice.client.GET('/api/v1/wallets/{id}', {
      params: { path: { id: from.id } },
    })
    expect(alices.balance).toBe('69.75')
  })

  it('pages through history with the cursor until it runs out', async () => {
    const alice = await signedUpUser()
    const wallet = await openWallet(alice.client, 'GBP')
    const amounts = ['1.00', '2.00', '3.00', '4.00', '5.00']
    const posted = []
    for (const amount of amounts) posted.push((await deposit(wallet.id, amount)).id)

    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const { data: page } = await alice.client.GET('/api/v1/wallets/{id}/transactions', {
        params: { path: { id: wallet.id }, query: { limit: 2, ...(cursor ? { cursor } : {}) } },
      })
      pages += 1
      expect(page.items.length).toBeLessThanOrEqual(2)
      seen.push(...page.items.map((item) => item.transactionId))
      cursor = page.nextCursor ?? undefined
    } while (cursor !== undefined && pages < 10)
    expect(pages).toBe(3)
    expect(seen.sort()).toEqual(posted.sort())

    const { data: deposits } = await alice.client.GET('/api/v1/wallets/{id}/transactions', {
      params: { path: { id: wallet.id }, query: { type: 'deposit', limit: 50 } },
    })
    expect(deposits.items).toHaveLength(5)
  })

  it('holds: creates, captures part and voids another', async () => {
    const alice = await signedUpUser()
    const wallet = await openWallet(alice.client, 'CAD')
    await deposit(wallet.id, '10.00')
    const { data: hold } = await alice.client.POST('/api/v1/holds', {
      body: { walletId: wallet.id, amount: '8.00', merchant: 'hotel' },
    })
    expect(hold).toMatchObject({ status: 'pending', amount: '8.00' })
    const { data: held } = await alice.client.GET('/api/v1/wallets/{id}', {
      params: { path: { id: wallet.id } },
    })
    expect(held).toMatchObject({ balance: '10.00', available: '2.00', pending: '8.00' })

    const { data: captured } = await service.POST('/api/v1/holds/{id}/capture', {
      params: { path: { id: hold.id } },
      body: { amount: '6.00' },
    })
    expect(captured.hold).toMatchObject({ status: 'captured', capturedAmount: '6.00' })

    const { data: second } = await alice.client.POST('/api/v1/holds', {
      body: { walletId: wallet.id, amount: '1.50' },
    })
    const { data: voided } = await alice.client.POST('/api/v1/holds/{id}/void', {
      params: { path: { id: second.id } },
    })
    expect(voided.hold).toMatchObject({ status: 'voided' })
    const { data: listed } = await alice.client.GET('/api/v1/wallets/{id}/holds', {
      params: { path: { id: wallet.id } },
    })
    expect(listed.items.map((item) => item.status).sort()).toEqual(['captured', 'voided'])
    const { data: after } = await alice.client.GET('/api/v1/wallets/{id}', {
      params: { path: { id: wallet.id } },
    })
    expect(after).toMatchObject({ balance: '4.00', available: '4.00', pending: '0.00' })
  })

  it('points: a service earns them for a user, who reads the account and its lots', async () => {
    const alice = await signedUpUser()
    const expiresAt = new Date(Date.now() + 30 * DAY).toISOString()
    const { data: earned } = await service.POST('/api/v1/points/earn', {
      body: { userId: alice.id, points: '120', source: 'welcome', expiresAt },
    })
    expect(earned).toMatchObject({ userId: alice.id, points: '120' })
    const { data: account } = await alice.client.GET('/api/v1/points')
    expect(account).toMatchObject({ userId: alice.id, total: '120', available: '120', pending: '0' })
    const { data: lots } = await alice.client.GET('/api/v1/points/lots')
    expect(lots.items).toHaveLength(1)
    expect(lots.items[0]).toMatchObject({ points: '120', remaining: '120', source: 'welcome' })
    expect(Date.parse(lots.items[0]!.expiresAt!)).toBe(Date.parse(expiresAt))
  })
})

describe('statements', () => {
  let runner: RunningStatements | undefined
  afterAll(() => runner?.close())

  it('downloads a short period at once as CSV', async () => {
    const alice = await signedUpUser()
    const wallet = await openWallet(alice.client, 'EUR')
    await deposit(wallet.id, '12.00')
    await deposit(wallet.id, '0.50')
    const answer = await alice.client.requestStatement('/api/v1/wallets/{id}/statement', {
      params: {
        path: { id: wallet.id },
        query: {
          from: new Date(Date.now() - DAY).toISOString(),
          to: new Date(Date.now() + DAY).toISOString(),
          format: 'csv',
        },
      },
      parseAs: 'text',
    })
    if (answer.kind !== 'file') throw new Error(`expected the file at once, got job ${answer.job.id}`)
    expect(answer.file.contentType).toMatch(/^text\/csv/)
    expect(answer.file.filename).toMatch(/^statement-EUR-.*\.csv$/)
    const rows = parse(answer.file.body, { columns: true }) as Record<string, string>[]
    expect(rows.map((row) => row.amount)).toEqual(['12.00', '0.50'])
  })

  it('follows a Prefer: respond-async job until done and downloads its file', async () => {
    const alice = await signedUpUser()
    const wallet = await openWallet(alice.client, 'EUR')
    await deposit(wallet.id, '7.00')
    const answer = await alice.client.requestStatement('/api/v1/wallets/{id}/statement', {
      params: {
        path: { id: wallet.id },
        query: {
          from: new Date(Date.now() - DAY).toISOString(),
          to: new Date(Date.now() + DAY).toISOString(),
          format: 'csv',
        },
      },
      respondAsync: true,
    })
    if (answer.kind !== 'job') throw new Error('expected a job for Prefer: respond-async')
    expect(answer.job.status).toBe('queued')
    expect(answer.location).toBe(`/api/v1/statements/${answer.job.id}`)
    expect(answer.retryAfterMs).toBe(1000)

    runner = startStatements(live.testApp.container, { pollMs: 20 })
    const progress: number[] = []
    const done = await alice.client.waitForStatementJob(answer.job.id, {
      pollMs: 50,
      onProgress: (job) => progress.push(job.progress.percent),
    })
    expect(done.status).toBe('done')
    expect(progress.at(-1)).toBe(100)

    const file = await alice.client.download('/api/v1/statements/{jobId}/file', {
      params: { path: { jobId: done.id } },
      parseAs: 'text',
    })
    expect(file.size).toBe(done.file?.size)
    expect(file.etag).toBe(`"${done.file?.sha256}"`)
    const rows = parse(file.body, { columns: true }) as Record<string, string>[]
    expect(rows.map((row) => row.amount)).toEqual(['7.00'])
    const asBlob = await alice.client.download('/api/v1/statements/{jobId}/file', {
      params: { path: { jobId: done.id } },
    })
    expect(asBlob.body).toBeInstanceOf(Blob)
    expect(asBlob.body.size).toBe(done.file?.size)
  })
})

describe('problems become typed errors', () => {
  it('insufficient funds: code, status, detail, request id and extension members', async () => {
    const alice = await signedUpUser()
    const wallet = await openWallet(alice.client, 'USD')
    await deposit(wallet.id, '5.00')
    const error = await service
      .POST('/api/v1/wallets/{id}/withdrawals', {
        params: { path: { id: wallet.id } },
        body: { amount: '5.01' },
      })
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(CofferProblemError)
    if (!isProblem(error, 'insufficient_funds')) throw error
    expect(error.status).toBe(422)
    expect(error.code).toBe('insufficient_funds')
    expect(error.detail).toMatch(/5\.00/)
    expect(error.requestId).toBe(error.response.headers.get('x-request-id'))
    expect(error.problem).toMatchObject({ available: '5.00', requested: '5.01' })
    expect(isProblem(error, 'wallet_not_found')).toBe(false)
  })

  it('a wallet that does not exist is a 404 wallet_not_found', async () => {
    const alice = await signedUpUser()
    const error = await alice.client
      .GET('/api/v1/wallets/{id}', { params: { path: { id: crypto.randomUUID() } } })
      .catch((caught: unknown) => caught)
    expect(isProblem(error, 'wallet_not_found')).toBe(true)
    expect((error as CofferProblemError).status).toBe(404)
  })
})

describe('API keys', () => {
  it("authenticates with the admin's new key as a bearer and never tries to refresh it", async () => {
    const { data: me } = await service.GET('/api/v1/auth/me')
    expect(me).toMatchObject({ roles: ['service'] })
    expect(JSON.stringify(me)).toContain(serviceKeyId)

    const sent: SentRequest[] = []
    const wrongKey = createCofferClient({
      baseUrl: live.baseUrl,
      apiKey: 'ck_not-a-key',
      fetch: recordingFetch(sent),
    })
    const error = await wrongKey.GET('/api/v1/auth/me').catch((caught: unknown) => caught)
    expect((error as CofferProblemError).status).toBe(401)
    expect(sent.map((request) => request.path)).toEqual(['/api/v1/auth/me'])
    expect(sent[0]?.authorization).toBe('Bearer ck_not-a-key')
  })

  it('refuses to sign a user in on an API-key client', async () => {
    await expect(service.signIn('someone@example.test', TEST_PASSWORD)).rejects.toThrow(/API key/)
  })
})

describe('a refresh that fails', () => {
  it('clears the tokens, tells onTokens and surfaces the 401', async () => {
    const told: (CofferTokens | null)[] = []
    const sent: SentRequest[] = []
    const client = createCofferClient({
      baseUrl: live.baseUrl,
      tokens: { accessToken: 'expired-or-forged', refreshToken: 'spent' },
      onTokens: (tokens) => told.push(tokens),
      fetch: recordingFetch(sent),
    })
    const error = await client.GET('/api/v1/wallets').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(CofferProblemError)
    expect((error as CofferProblemError).status).toBe(401)
    expect(sent.map((request) => request.path)).toEqual(['/api/v1/wallets', '/api/v1/auth/refresh'])
    expect(client.tokens).toBeNull()
    expect(told).toEqual([null])
  })

  it('keeps the tokens when the refresh meets server trouble, and surfaces the 401', async () => {
    const told: (CofferTokens | null)[] = []
    const tokens = { accessToken: 'expired-or-forged', refreshToken: 'not-judged' }
    const isRefresh = (request: Request) => request.url.endsWith('/api/v1/auth/refresh')
    const client = createCofferClient({
      baseUrl: live.baseUrl,
      tokens,
      onTokens: (next) => told.push(next),
      fetch: answersOnce(isRefresh, () => problemResponse(503, 'service_unavailable')),
    })
    const error = await client.GET('/api/v1/wallets').catch((caught: unknown) => caught)
    expect((error as CofferProblemError).status).toBe(401)
    expect(client.tokens).toEqual(tokens)
    expect(told).toEqual([])
  })
})
