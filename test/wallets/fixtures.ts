import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { expect } from 'vitest'
import type { TransactionView, WalletView } from '../../src/wallets/wallets.schemas.js'
import type { TestApp } from '../app.js'
import type { AuthHeaders } from '../auth-fixtures.js'
import { idempotencyKey } from '../ledger.js'

/** The members of a problem+json body the wallet tests read. */
export interface Problem {
  code: string
  status: number
  detail: string
  available?: string
  requested?: string
  [member: string]: unknown
}

/**
 * A wallet through the API. Admin and service principals may pass `userId` to open a wallet for
 * an owner that never signs in, which lets a test make hundreds of wallets without hashing a
 * password for each.
 */
export async function openWallet(
  t: TestApp,
  headers: AuthHeaders,
  currency: string,
  userId?: string,
): Promise<WalletView> {
  const response = await t.app.inject({
    method: 'POST',
    url: '/api/v1/wallets',
    headers,
    payload: userId ? { currency, userId } : { currency },
  })
  expect(response.statusCode, response.body).toBeOneOf([200, 201])
  return response.json<WalletView>()
}

/** `count` wallets of fresh owners, opened by an admin or service principal. */
export function openWallets(
  t: TestApp,
  headers: AuthHeaders,
  currency: string,
  count: number,
): Promise<WalletView[]> {
  return Promise.all(Array.from({ length: count }, () => openWallet(t, headers, currency, randomUUID())))
}

/** A money-moving POST with a fresh Idempotency-Key unless the test gives one. */
export function postMoney(
  t: TestApp,
  headers: AuthHeaders,
  url: string,
  payload: Record<string, unknown>,
  key: string = idempotencyKey(),
): Promise<LightMyRequestResponse> {
  return t.app.inject({ method: 'POST', url, headers: { ...headers, 'idempotency-key': key }, payload })
}

export function deposit(t: TestApp, headers: AuthHeaders, walletId: string, amount: string, key?: string) {
  return postMoney(t, headers, `/api/v1/wallets/${walletId}/deposits`, { amount }, key)
}

export function withdraw(t: TestApp, headers: AuthHeaders, walletId: string, amount: string, key?: string) {
  return postMoney(t, headers, `/api/v1/wallets/${walletId}/withdrawals`, { amount }, key)
}

export function transfer(
  t: TestApp,
  headers: AuthHeaders,
  body: { fromWalletId: string; toWalletId?: string; toUserId?: string; amount: string },
  key?: string,
) {
  return postMoney(t, headers, '/api/v1/transfers', body, key)
}

/** A deposit that must succeed, for setting a test up. */
export async function fund(
  t: TestApp,
  headers: AuthHeaders,
  walletId: string,
  amount: string,
): Promise<TransactionView> {
  const response = await deposit(t, headers, walletId, amount)
  expect(response.statusCode, response.body).toBe(201)
  return response.json<TransactionView>()
}

/** The stored balance in minor units, read past the API so a test can check what the API says. */
export async function storedBalance(t: TestApp, walletId: string): Promise<bigint> {
  const row = await t.database.db
    .selectFrom('accounts')
    .select('balance')
    .where('id', '=', walletId)
    .executeTakeFirstOrThrow()
  return row.balance
}

export async function walletBalance(t: TestApp, headers: AuthHeaders, walletId: string): Promise<string> {
  const response = await t.app.inject({ method: 'GET', url: `/api/v1/wallets/${walletId}`, headers })
  expect(response.statusCode, response.body).toBe(200)
  return response.json<WalletView>().balance
}

/** Polls until `check` holds, for waiting on another connection's state; fails after `timeoutMs`. */
export async function eventually(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** A promise and the function that resolves it, for holding something open until the test says so. */
export function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

/** Milliseconds to wait so two instants taken on either side differ in the API's ms precision. */
export function pause(ms = 15): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
