import { randomInt, randomUUID } from 'node:crypto'
import type { Request, RequestParams } from 'autocannon'
import type { ScenarioName } from './options.js'

/** What the scenarios run against, once seeding is done. */
export interface BenchTarget {
  wallets: string[]
  /** Every transfer of hot-wallet credits this wallet. */
  hotWallet: string
  merchant: string
  deep: { id: string; middleCursor: string } | null
  /** A wallet of HISTORY_SHALLOW_ENTRIES entries: what history-deep's latency is compared with. */
  shallow: { id: string; middleCursor: string } | null
  /** Users with a point account holding plenty of available points (points, points-expiry). */
  pointUsers: string[]
}

/**
 * What bounds a scenario, measured in the same run: the bare HTTP server (reads), pgbench one
 * transfer per commit (random pairs or one hot wallet), or pgbench 100 transfers per commit.
 */
export type Ceiling = 'http' | 'random' | 'hot' | 'batched'

export interface Scenario {
  name: ScenarioName
  description: string
  ceiling: Ceiling | null
  /** A fixed offered rate (autocannon overallRate) instead of as fast as it goes. */
  overallRate?: number
  /** Concurrent requests, when not --connections. */
  connections?: number
  /** Movements per request (a batch): the row reports succeeded movements per second too. */
  itemsPerRequest?: number
  /** Needs an API route that may not exist yet; probed before the run. */
  probe?: (target: BenchTarget) => RequestParams
  requests: (target: BenchTarget) => Request[]
}

const API = '/api/v1'

/** 0.01 to 1.00: small against the funding, so no wallet runs dry during a run. */
function randomAmount(): string {
  const cents = randomInt(1, 101)
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`
}

function pick<T>(items: readonly T[]): T {
  return items[randomInt(items.length)]!
}

/** Two different wallets, uniformly. */
function randomPair(wallets: readonly string[]): [string, string] {
  const from = randomInt(wallets.length)
  let to = randomInt(wallets.length - 1)
  if (to >= from) to += 1
  return [wallets[from]!, wallets[to]!]
}

function post(request: RequestParams, path: string, body: Record<string, unknown>): RequestParams {
  return {
    ...request,
    method: 'POST',
    path,
    headers: { ...request.headers, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify(body),
  }
}

function get(request: RequestParams, path: string): RequestParams {
  const { 'content-type': _, 'idempotency-key': __, ...headers } = request.headers
  return { method: 'GET', path, headers }
}

const transferBetween = (request: RequestParams, from: string, to: string) =>
  post(request, `${API}/transfers`, { fromWalletId: from, toWalletId: to, amount: randomAmount() })

/** Transfers per bulk batch, and bulk's concurrent requests (also the batched floor's clients). */
export const BULK_ITEMS = 100
export const BULK_CONNECTIONS = 16
/** The fixed offered rate of transfers-1000. */
export const FIXED_TRANSFER_RATE = 1000
/** Entries of the shallow wallet of history-shallow. */
export const HISTORY_SHALLOW_ENTRIES = 100

/** POST /batches of `count` transfers between random pairs, each with a key of its own. */
function bulkTransfers(request: RequestParams, wallets: readonly string[], count: number): RequestParams {
  const items = Array.from({ length: count }, () => {
    const [from, to] = randomPair(wallets)
    return {
      type: 'transfer',
      idempotencyKey: randomUUID(),
      fromWalletId: from,
      toWalletId: to,
      amount: randomAmount(),
    }
  })
  // A batch takes no Idempotency-Key header: each item carries its own.
  const { 'idempotency-key': _, ...headers } = request.headers
  return {
    ...request,
    method: 'POST',
    path: `${API}/batches`,
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ items }),
  }
}

/** The `succeeded` count of a batch answer, without parsing its 100 items. */
export function batchSucceeded(body: string): number {
  const match = /"succeeded":(\d+)/.exec(body)
  return match ? Number(match[1]) : 0
}

/** A transfer between a random pair: the relay-lag load. */
export const transfer = (request: RequestParams, wallets: readonly string[]) =>
  transferBetween(request, ...randomPair(wallets))

/** An asynchronous deposit into a random wallet: the operations load. */
export const deposit = (request: RequestParams, wallets: readonly string[]) =>
  post(request, `${API}/operations`, { type: 'deposit', walletId: pick(wallets), amount: randomAmount() })

/** A service's spend of 1 to 100 points for a user it names: the points-expiry probe load too. */
export const pointsSpend = (request: RequestParams, userIds: readonly string[]) =>
  post(request, `${API}/points/spend`, {
    userId: pick(userIds),
    points: String(randomInt(1, 101)),
    source: 'bench',
  })

const pointsEarn = (request: RequestParams, userIds: readonly string[]) =>
  post(request, `${API}/points/earn`, {
    userId: pick(userIds),
    points: String(randomInt(1, 101)),
    source: 'bench',
  })

const withdrawal = (request: RequestParams, wallets: readonly string[]) =>
  post(request, `${API}/wallets/${pick(wallets)}/withdrawals`, { amount: randomAmount() })

/** Measured by bench/run.ts's measurePointsExpiry, not by the HTTP loop. */
export const POINTS_EXPIRY_SCENARIO: ScenarioName = 'points-expiry'

/** Measured by bench/statement.ts against `coffer serve` and a `coffer worker`, not by the HTTP loop. */
export const STATEMENT_SCENARIO: ScenarioName = 'statement'

/** Measured against `coffer start` on RabbitMQ (bench/events.ts), not by the HTTP loop. */
export const EVENT_SCENARIOS: readonly ScenarioName[] = ['relay', 'operations', 'webhooks']

const purchase = (request: RequestParams, target: BenchTarget) =>
  post(request, `${API}/purchases`, {
    walletId: pick(target.wallets),
    merchant: target.merchant,
    amount: randomAmount(),
  })

const readWallet = (request: RequestParams, walletId: string) => get(request, `${API}/wallets/${walletId}`)

const readHistory = (request: RequestParams, walletId: string) =>
  get(request, `${API}/wallets/${walletId}/transactions`)

function historyPages(wallet: { id: string; middleCursor: string }): Request[] {
  const base = `${API}/wallets/${wallet.id}/transactions`
  return [
    { method: 'GET', path: base },
    { method: 'GET', path: `${base}?cursor=${wallet.middleCursor}` },
  ]
}

const eventScenario = (name: ScenarioName, description: string): Scenario => ({
  name,
  description,
  ceiling: null,
  requests: () => {
    throw new Error(`${name} is measured by measureEvents, not by autocannon's loop`)
  },
})

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  transfers: {
    name: 'transfers',
    description: 'transfers between random distinct pairs of funded wallets',
    ceiling: 'random',
    requests: (target) => [
      { setupRequest: (request) => transferBetween(request, ...randomPair(target.wallets)) },
    ],
  },
  'transfers-1000': {
    name: 'transfers-1000',
    description: `transfers between random pairs at a fixed offered ${FIXED_TRANSFER_RATE.toLocaleString('en-US')}/s: the latency of a steady load`,
    ceiling: null,
    overallRate: FIXED_TRANSFER_RATE,
    requests: (target) => [
      { setupRequest: (request) => transferBetween(request, ...randomPair(target.wallets)) },
    ],
  },
  bulk: {
    name: 'bulk',
    description: `POST /batches of ${BULK_ITEMS} transfers between random pairs, ${BULK_CONNECTIONS} at a time`,
    ceiling: 'batched',
    connections: BULK_CONNECTIONS,
    itemsPerRequest: BULK_ITEMS,
    probe: (target) => bulkTransfers({ method: 'POST', path: '/', headers: {} }, target.wallets, 1),
    requests: (target) => [{ setupRequest: (request) => bulkTransfers(request, target.wallets, BULK_ITEMS) }],
  },
  'hot-wallet': {
    name: 'hot-wallet',
    description: 'transfers from random wallets, every one crediting the same wallet',
    ceiling: 'hot',
    requests: (target) => {
      const others = target.wallets.filter((id) => id !== target.hotWallet)
      return [{ setupRequest: (request) => transferBetween(request, pick(others), target.hotWallet) }]
    },
  },
  'hot-merchant': {
    name: 'hot-merchant',
    description: 'purchases from random wallets, every one paying the same merchant',
    // The merchant is a system account: Coffer never locks it, so its ceiling is the random pair's.
    ceiling: 'random',
    probe: (target) => purchase({ method: 'POST', path: '/', headers: {} }, target),
    requests: (target) => [{ setupRequest: (request) => purchase(request, target) }],
  },
  reads: {
    name: 'reads',
    description: 'GET a random wallet, then the first history page of another',
    ceiling: 'http',
    requests: (target) => [
      { setupRequest: (request) => readWallet(request, pick(target.wallets)) },
      { setupRequest: (request) => readHistory(request, pick(target.wallets)) },
    ],
  },
  mixed: {
    name: 'mixed',
    description: '40 % GET wallet, 40 % first history page, 20 % transfers, in random order',
    ceiling: null,
    requests: (target) => [
      {
        setupRequest: (request) => {
          const draw = randomInt(10)
          if (draw < 2) return transferBetween(request, ...randomPair(target.wallets))
          if (draw < 6) return readWallet(request, pick(target.wallets))
          return readHistory(request, pick(target.wallets))
        },
      },
    ],
  },
  'history-deep': {
    name: 'history-deep',
    description: 'first and middle history page of one wallet with a deep history',
    ceiling: 'http',
    requests: (target) => {
      if (!target.deep) throw new Error('history-deep needs the deep wallet')
      return historyPages(target.deep)
    },
  },
  'history-shallow': {
    name: 'history-shallow',
    description: `first and middle history page of one wallet with ${HISTORY_SHALLOW_ENTRIES} entries: history-deep's yardstick`,
    ceiling: 'http',
    requests: (target) => {
      if (!target.shallow) throw new Error('history-shallow needs the shallow wallet')
      return historyPages(target.shallow)
    },
  },
  withdrawals: {
    name: 'withdrawals',
    description: 'withdrawals from random funded wallets: what points spend is compared with',
    ceiling: null,
    requests: (target) => [{ setupRequest: (request) => withdrawal(request, target.wallets) }],
  },
  points: {
    name: 'points',
    description: '50 % points earn, 50 % points spend, by the service key for random point users',
    ceiling: null,
    probe: (target) => pointsSpend({ method: 'POST', path: '/', headers: {} }, target.pointUsers),
    requests: (target) => [
      {
        setupRequest: (request) =>
          randomInt(2) === 0
            ? pointsEarn(request, target.pointUsers)
            : pointsSpend(request, target.pointUsers),
      },
    ],
  },
  'points-expiry': {
    name: 'points-expiry',
    description: 'the settle-points job expiring --points-lots lots, spends at a low rate meanwhile',
    ceiling: null,
    requests: () => {
      throw new Error("points-expiry is measured by measurePointsExpiry, not by autocannon's loop")
    },
  },
  statement: {
    name: 'statement',
    description: 'a one-year statement of the deep wallet as CSV, then PDF: jobs done by coffer worker',
    ceiling: null,
    requests: () => {
      throw new Error("statement is measured by measureStatements, not by autocannon's loop")
    },
  },
  relay: eventScenario('relay', 'outbox published to RabbitMQ: backlog drain, and lag at 1,000 transfers/s'),
  operations: eventScenario(
    'operations',
    'async deposits (POST /operations) at 500/s: 202 to operation.succeeded',
  ),
  webhooks: eventScenario(
    'webhooks',
    'webhook deliveries to a local receiver: a replayed backlog, and lag at 1,000 transfers/s',
  ),
}
