import { randomInt, randomUUID } from 'node:crypto'
import type { Role } from '../src/auth/principal.js'
import type { TestApp } from './app.js'

export const TEST_PASSWORD = 'correct horse battery staple'

// A type alias, not an interface, so it is assignable to inject()'s header record.
export type AuthHeaders = { authorization: string }

export interface SignedUpUser {
  userId: string
  email: string
  password: string
  /** The access token. */
  token: string
  refreshToken: string
  headers: AuthHeaders
}

export interface CreatedApiKey {
  id: string
  key: string
  headers: AuthHeaders
}

/**
 * A distinct client address per call, so fixtures never trip the per-IP limits of register and
 * sign-in, however many users a test file creates, and with the production limits in place.
 */
export function randomClientIp(): string {
  return `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`
}

export function bearer(token: string): AuthHeaders {
  return { authorization: `Bearer ${token}` }
}

/**
 * A signed-in user with a fresh email. Role `user` (the default) registers through the API; other
 * roles are created through the auth service, as an operator would with `coffer users create`.
 * Either way the token comes from POST /api/v1/auth/sign-in.
 */
export async function signUp(
  testApp: TestApp,
  opts: { roles?: Role[]; email?: string; password?: string; name?: string } = {},
): Promise<SignedUpUser> {
  const email = opts.email ?? `user-${randomUUID()}@example.test`
  const password = opts.password ?? TEST_PASSWORD
  const roles = opts.roles ?? ['user']
  const remoteAddress = randomClientIp()
  let userId: string
  if (roles.length === 1 && roles[0] === 'user') {
    const registered = await testApp.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      remoteAddress,
      payload: { email, password, ...(opts.name ? { name: opts.name } : {}) },
    })
    if (registered.statusCode !== 201) {
      throw new Error(`register failed: ${registered.statusCode} ${registered.body}`)
    }
    userId = registered.json<{ id: string }>().id
  } else {
    userId = (await testApp.container.auth.createUser({ email, password, roles, name: opts.name })).id
  }
  const signedIn = await testApp.app.inject({
    method: 'POST',
    url: '/api/v1/auth/sign-in',
    remoteAddress,
    payload: { email, password },
  })
  if (signedIn.statusCode !== 200) throw new Error(`sign-in failed: ${signedIn.statusCode} ${signedIn.body}`)
  const tokens = signedIn.json<{ accessToken: string; refreshToken: string }>()
  return {
    userId,
    email,
    password,
    token: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    headers: bearer(tokens.accessToken),
  }
}

/** An API key with the given roles (e.g. ['service']), created through the auth service. */
export async function createApiKey(
  testApp: TestApp,
  roles: Role[],
  name = `test-key-${randomUUID().slice(0, 8)}`,
): Promise<CreatedApiKey> {
  const created = await testApp.container.auth.createApiKey({ name, roles, createdBy: null })
  return { id: created.id, key: created.key, headers: bearer(created.key) }
}
