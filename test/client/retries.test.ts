import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type CofferClient,
  type CofferClientOptions,
  CofferProblemError,
  createCofferClient,
  type Fetch,
} from '../../packages/client/src/index.js'
import { createApiKey } from '../auth-fixtures.js'
import { type LiveCoffer, startLiveCoffer } from './live-server.js'
import {
  answersOnce,
  dropsOnce,
  problemResponse,
  recordingFetch,
  type SentRequest,
} from './transport-faults.js'

let live: LiveCoffer
let serviceKey: string
/** The service client without faults, for setting up and reading back. */
let service: CofferClient

const FAST_RETRY = { attempts: 3, baseDelayMs: 1, maxDelayMs: 50 }

/** A service client sending through `transport`, each request noted in the returned list. */
function serviceThrough(transport: Fetch, options: Partial<CofferClientOptions> = {}) {
  const sent: SentRequest[] = []
  const client = createCofferClient({
    baseUrl: live.baseUrl,
    apiKey: serviceKey,
    retry: FAST_RETRY,
    fetch: recordingFetch(sent, transport),
    ...options,
  })
  return { client, sent }
}

const isDeposit = (request: Request) => request.method === 'POST' && request.url.endsWith('/deposits')
const isWalletList = (request: Request) =>
  request.method === 'GET' && new URL(request.url).pathname === '/api/v1/wallets'

async function openWallet(currency = 'USD') {
  const { data } = await service.POST('/api/v1/wallets', { body: { currency, userId: crypto.randomUUID() } })
  return data
}

async function transactionsOf(walletId: string) {
  const { data } = await service.GET('/api/v1/wallets/{id}/transactions', {
    params: { path: { id: walletId }, query: { limit: 50 } },
  })
  return data.items
}

beforeAll(async () => {
  live = await startLiveCoffer()
  serviceKey = (await createApiKey(live.testApp, ['service'])).key
  service = createCofferClient({ baseUrl: live.baseUrl, apiKey: serviceKey })
})
afterAll(() => live?.close())

describe('idempotency keys', () => {
  it('resends a deposit whose answer was lost with the same key: the server replays it, one transaction exists', async () => {
    const wallet = await openWallet()
    const { client, sent } = serviceThrough(dropsOnce(isDeposit, 'answer'))
    const { data, response } = await client.POST('/api/v1/wallets/{id}/deposits', {
      params: { path: { id: wallet.id } },
      body: { amount: '9.99' },
    })
    const deposits = sent.filter((request) => request.path.endsWith('/deposits'))
    expect(deposits).toHaveLength(2)
    expect(deposits[0]?.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/)
    expect(deposits[1]?.idempotencyKey).toBe(deposits[0]?.idempotencyKey)
    expect(response.status).toBe(201)
    expect(response.headers.get('idempotency-replayed')).toBe('true')
    const history = await transactionsOf(wallet.id)
    expect(history.map((item) => item.transactionId)).toEqual([data.id])
    const { data: after } = await service.GET('/api/v1/wallets/{id}', { params: { path: { id: wallet.id } } })
    expect(after.balance).toBe('9.99')
  })

  it('keeps a pinned key across calls: a second submission is answered from the first', async () => {
    const wallet = await openWallet()
    const idempotencyKey = `form-${crypto.randomUUID()}`
    const init = { params: { path: { id: wallet.id } }, body: { amount: '3.00' }, idempotencyKey }
    const first = await service.POST('/api/v1/wallets/{id}/deposits', init)
    const second = await service.POST('/api/v1/wallets/{id}/deposits', init)
    expect(first.response.headers.get('idempotency-replayed')).toBeNull()
    expect(second.response.headers.get('idempotency-replayed')).toBe('true')
    expect(second.data.id).toBe(first.data.id)
    expect(await transactionsOf(wallet.id)).toHaveLength(1)
  })

  it('gives each logical call a key of its own, and none to operations that take none', async () => {
    const wallet = await openWallet()
    const { client, sent } = serviceThrough((request) => fetch(request))
    await client.POST('/api/v1/wallets/{id}/deposits', {
      params: { path: { id: wallet.id } },
      body: { amount: '1.00' },
    })
    await client.POST('/api/v1/wallets/{id}/deposits', {
      params: { path: { id: wallet.id } },
      body: { amount: '1.00' },
    })
    await client.GET('/api/v1/wallets/{id}', { params: { path: { id: wallet.id } } })
    const [first, second, read] = sent
    expect(first?.idempotencyKey).not.toBeNull()
    expect(second?.idempotencyKey).not.toBeNull()
    expect(second?.idempotencyKey).not.toBe(first?.idempotencyKey)
    expect(read?.idempotencyKey).toBeNull()
    expect(await transactionsOf(wallet.id)).toHaveLength(2)
  })
})

describe('safe retries', () => {
  it('does not resend a POST without an Idempotency-Key whose answer was lost', async () => {
    const isWalletOpening = (request: Request) =>
      request.method === 'POST' && request.url.endsWith('/api/v1/wallets')
    const { client, sent } = serviceThrough(dropsOnce(isWalletOpening, 'answer'))
    await expect(
      client.POST('/api/v1/wallets', { body: { currency: 'USD', userId: crypto.randomUUID() } }),
    ).rejects.toThrow(/connection reset/)
    expect(sent).toHaveLength(1)
  })

  it('resends a GET whose connection dropped', async () => {
    const { client, sent } = serviceThrough(dropsOnce(isWalletList, 'nothing'))
    const { data } = await client.GET('/api/v1/wallets')
    expect(Array.isArray(data.items)).toBe(true)
    expect(sent).toHaveLength(2)
  })

  it('gives up after the configured attempts and surfaces the network error', async () => {
    const { client, sent } = serviceThrough(() => Promise.reject(new TypeError('fetch failed: network down')))
    await expect(client.GET('/api/v1/wallets')).rejects.toThrow(/network down/)
    expect(sent).toHaveLength(FAST_RETRY.attempts)
  })

  it('retries a 503 after its Retry-After, a deposit with the same key', async () => {
    const wallet = await openWallet()
    const unavailable = () => problemResponse(503, 'service_unavailable', { 'retry-after': '0' })
    const { client, sent } = serviceThrough(answersOnce(isDeposit, unavailable))
    const { response } = await client.POST('/api/v1/wallets/{id}/deposits', {
      params: { path: { id: wallet.id } },
      body: { amount: '2.00' },
    })
    expect(response.status).toBe(201)
    // The 503 never reached Coffer, so the resend is the first the server sees: not a replay.
    expect(response.headers.get('idempotency-replayed')).toBeNull()
    expect(sent).toHaveLength(2)
    expect(sent[1]?.idempotencyKey).toBe(sent[0]?.idempotencyKey)
  })

  it('surfaces a 503 whose Retry-After is longer than the client may wait', async () => {
    const unavailable = () => problemResponse(503, 'service_unavailable', { 'retry-after': '30' })
    const { client, sent } = serviceThrough(answersOnce(isWalletList, unavailable))
    const error = await client.GET('/api/v1/wallets').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(CofferProblemError)
    expect((error as CofferProblemError).status).toBe(503)
    expect(sent).toHaveLength(1)
  })

  it('retries a 409 idempotency_key_in_flight, and no other 409', async () => {
    const wallet = await openWallet()
    const inFlight = serviceThrough(
      answersOnce(isDeposit, () => problemResponse(409, 'idempotency_key_in_flight')),
    )
    await inFlight.client.POST('/api/v1/wallets/{id}/deposits', {
      params: { path: { id: wallet.id } },
      body: { amount: '1.00' },
    })
    expect(inFlight.sent).toHaveLength(2)
    expect(inFlight.sent[1]?.idempotencyKey).toBe(inFlight.sent[0]?.idempotencyKey)

    const frozen = serviceThrough(answersOnce(isDeposit, () => problemResponse(409, 'wallet_frozen')))
    const error = await frozen.client
      .POST('/api/v1/wallets/{id}/deposits', {
        params: { path: { id: wallet.id } },
        body: { amount: '1.00' },
      })
      .catch((caught: unknown) => caught)
    expect((error as CofferProblemError).code).toBe('wallet_frozen')
    expect(frozen.sent).toHaveLength(1)
  })

  it('never retries a refusal such as 422 insufficient_funds', async () => {
    const wallet = await openWallet()
    const { client, sent } = serviceThrough((request) => fetch(request))
    const error = await client
      .POST('/api/v1/wallets/{id}/withdrawals', {
        params: { path: { id: wallet.id } },
        body: { amount: '1.00' },
      })
      .catch((caught: unknown) => caught)
    expect((error as CofferProblemError).code).toBe('insufficient_funds')
    expect(sent).toHaveLength(1)
  })

  it('stops retrying when the caller aborts', async () => {
    const controller = new AbortController()
    const { client, sent } = serviceThrough(() => {
      controller.abort(new Error('the user left the page'))
      return Promise.reject(new TypeError('fetch failed'))
    })
    await expect(client.GET('/api/v1/wallets', { signal: controller.signal })).rejects.toThrow()
    expect(sent).toHaveLength(1)
  })
})
