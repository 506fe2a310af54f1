import type { LightMyRequestResponse } from 'fastify'
import { expect } from 'vitest'
import type { PointAccountView } from '../../src/points/points.schemas.js'
import type { TestApp } from '../app.js'
import type { AuthHeaders } from '../auth-fixtures.js'
import { idempotencyKey } from '../ledger.js'

/** A points POST with a fresh Idempotency-Key unless the test gives one. */
export function postPoints(
  t: TestApp,
  headers: AuthHeaders,
  path: string,
  payload: Record<string, unknown>,
  key: string = idempotencyKey('points'),
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: 'POST',
    url: `/api/v1/points${path}`,
    headers: { ...headers, 'idempotency-key': key },
    payload,
  })
}

export async function earn(
  t: TestApp,
  headers: AuthHeaders,
  body: Record<string, unknown>,
): Promise<{ transactionId: string; lot: { id: string } }> {
  const response = await postPoints(t, headers, '/earn', { source: 'test', ...body })
  expect(response.statusCode, response.body).toBe(201)
  return response.json()
}

export async function pointsOf(t: TestApp, headers: AuthHeaders, userId?: string): Promise<PointAccountView> {
  const response = await t.app.inject({
    method: 'GET',
    url: `/api/v1/points${userId ? `?userId=${userId}` : ''}`,
    headers,
  })
  expect(response.statusCode, response.body).toBe(200)
  return response.json<PointAccountView>()
}
