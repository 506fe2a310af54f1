import { sql } from 'kysely'
import { expect } from 'vitest'
import type { Db } from '../../src/db/database.js'
import { systemAccountId } from '../../src/ledger/system-accounts.js'
import type { TestApp } from '../app.js'
import type { SignedUpUser } from '../auth-fixtures.js'
import { idempotencyKey } from '../ledger.js'

/** A wallet of `user` in `currency`; fails the test unless it is created or already there. */
export async function walletOf(t: TestApp, user: SignedUpUser, currency: string): Promise<{ id: string }> {
  const response = await t.app.inject({
    method: 'POST',
    url: '/api/v1/wallets',
    headers: user.headers,
    payload: { currency },
  })
  expect([200, 201], response.body).toContain(response.statusCode)
  return response.json()
}

export function post(
  t: TestApp,
  user: SignedUpUser,
  url: string,
  payload: Record<string, unknown>,
  key = idempotencyKey(),
) {
  return t.app.inject({ method: 'POST', url, headers: { ...user.headers, 'idempotency-key': key }, payload })
}

export async function deposit(
  t: TestApp,
  admin: SignedUpUser,
  walletId: string,
  amount: string,
): Promise<void> {
  const response = await post(t, admin, `/api/v1/wallets/${walletId}/deposits`, { amount })
  expect(response.statusCode, response.body).toBe(201)
}

export function putRate(t: TestApp, user: SignedUpUser, base: string, quote: string, rate: string) {
  return t.app.inject({
    method: 'PUT',
    url: `/api/v1/fx-rates/${base}/${quote}`,
    headers: user.headers,
    payload: { rate },
  })
}

export function putCurrency(
  t: TestApp,
  user: SignedUpUser,
  code: string,
  body: { decimals: number; name: string },
) {
  return t.app.inject({
    method: 'PUT',
    url: `/api/v1/currencies/${code}`,
    headers: user.headers,
    payload: body,
  })
}

/** A system account's exact balance: its folded balance plus the deltas the worker has not folded yet. */
export async function systemBalance(db: Db, name: string, currency: string): Promise<bigint> {
  const id = systemAccountId({ name, currency })
  const { rows } = await sql<{ total: string }>`
    select ((select coalesce(sum(balance), 0) from accounts where id = ${id})
      + (select coalesce(sum(amount), 0) from system_balance_deltas where account_id = ${id}))::text as total
  `.execute(db)
  return BigInt(rows[0]!.total)
}

export async function walletBalance(t: TestApp, user: SignedUpUser, walletId: string): Promise<string> {
  const response = await t.app.inject({
    method: 'GET',
    url: `/api/v1/wallets/${walletId}`,
    headers: user.headers,
  })
  expect(response.statusCode, response.body).toBe(200)
  return response.json().balance
}
