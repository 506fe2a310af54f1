import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { Role } from '../../src/auth/principal.js'
import { createTestApp, type TestApp } from '../app.js'
import { TEST_PASSWORD } from '../auth-fixtures.js'

/** A Coffer on a fresh database listening on a free port, for the client to reach over real HTTP. */
export interface LiveCoffer {
  testApp: TestApp
  baseUrl: string
  close(): Promise<void>
}

export async function startLiveCoffer(env: Record<string, string> = {}): Promise<LiveCoffer> {
  // Every client of a test comes from 127.0.0.1, so the per-IP limits of sign-in and register
  // would refuse a test file's users; the limits have tests of their own.
  const testApp = await createTestApp({ env: { RATE_LIMIT_AUTH_PER_MINUTE: '10000', ...env } })
  try {
    await testApp.app.listen({ port: 0, host: '127.0.0.1' })
  } catch (error) {
    await testApp.close()
    throw error
  }
  const { port } = testApp.app.server.address() as AddressInfo
  return { testApp, baseUrl: `http://127.0.0.1:${port}`, close: () => testApp.close() }
}

export function freshEmail(label = 'user'): string {
  return `${label}-${randomUUID()}@example.test`
}

/** An account with roles beyond `user`, made as an operator would (`coffer users create`); sign in with TEST_PASSWORD. */
export async function createStaffUser(
  live: LiveCoffer,
  roles: Role[],
): Promise<{ id: string; email: string; password: string }> {
  const email = freshEmail(roles.join('-'))
  const { id } = await live.testApp.container.auth.createUser({ email, password: TEST_PASSWORD, roles })
  return { id, email, password: TEST_PASSWORD }
}
