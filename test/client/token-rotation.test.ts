import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type CofferTokens, createCofferClient } from '../../packages/client/src/index.js'
import { TEST_PASSWORD } from '../auth-fixtures.js'
import { freshEmail, type LiveCoffer, startLiveCoffer } from './live-server.js'
import { recordingFetch, type SentRequest } from './transport-faults.js'

/** The server accepts a token this long past its exp, for clocks of different processes (src/auth/tokens.ts). */
const CLOCK_TOLERANCE_MS = 5000

let live: LiveCoffer

beforeAll(async () => {
  live = await startLiveCoffer({ ACCESS_TOKEN_TTL_SECONDS: '1' })
})
afterAll(() => live?.close())

function expiryOf(accessToken: string): number {
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString('utf8')) as {
    exp: number
  }
  return payload.exp * 1000
}

it('renews an expired access token once for concurrent calls, storing the rotated pair', async () => {
  const told: (CofferTokens | null)[] = []
  const sent: SentRequest[] = []
  const client = createCofferClient({
    baseUrl: live.baseUrl,
    onTokens: (tokens) => told.push(tokens),
    fetch: recordingFetch(sent),
  })
  const { user } = await client.signUp({ email: freshEmail(), password: TEST_PASSWORD })
  const signedIn = client.tokens!
  await sleep(expiryOf(signedIn.accessToken) + CLOCK_TOLERANCE_MS + 500 - Date.now())
  sent.length = 0

  const answers = await Promise.all([
    client.GET('/api/v1/auth/me'),
    client.GET('/api/v1/wallets'),
    client.GET('/api/v1/auth/sessions'),
  ])
  expect(answers[0].data).toMatchObject({ id: user.id })

  // One refresh for the three 401s, then each call once more with the new access token.
  expect(sent.filter((request) => request.path === '/api/v1/auth/refresh')).toHaveLength(1)
  const rotated = client.tokens!
  expect(rotated.refreshToken).not.toBe(signedIn.refreshToken)
  expect(rotated.accessToken).not.toBe(signedIn.accessToken)
  expect(told).toEqual([signedIn, rotated])
  const retried = sent.filter(
    (request) =>
      request.path !== '/api/v1/auth/refresh' && request.authorization === `Bearer ${rotated.accessToken}`,
  )
  expect(retried).toHaveLength(3)

  // The spent refresh token no longer works: the server did rotate it.
  const reuse = await fetch(`${live.baseUrl}/api/v1/auth/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refreshToken: signedIn.refreshToken }),
  })
  expect(reuse.status).toBe(401)
})
