import type { FastifyRequest } from 'fastify'
import type { App } from '../app.js'
import { Forbidden, Unauthorized } from './auth.errors.js'

export const ROLES = ['user', 'admin', 'service'] as const
export type Role = (typeof ROLES)[number]

/** Who is calling: a signed-in user, or a service holding an API key. */
export interface Principal {
  kind: 'user' | 'api_key'
  /** The user id, or the API key id for a service. */
  id: string
  /** Set when the principal is a user: the owner id of their wallets. */
  userId: string | null
  roles: Role[]
  /** Session id of a user token, for sign-out. */
  sessionId?: string
  /** JWT id of the access token, for the denylist. */
  tokenId?: string
  tokenExpiresAt?: Date
}

/** Every route states who may call it: 'public', or the roles of which the caller needs one. */
export type Access = 'public' | readonly Role[]

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access
  }
  interface FastifyRequest {
    principal: Principal | null
  }
}

/** Resolves the principal of a request from its credentials; null when it carries none. */
export interface Authenticator {
  authenticate(request: FastifyRequest): Promise<Principal | null>
}

export function hasRole(principal: Principal, ...roles: Role[]): boolean {
  return principal.roles.some((role) => roles.includes(role))
}

/** The principal of a route that is not public; the access hook has already checked it exists. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Unauthorized()
  return request.principal
}

/**
 * The one place access is enforced. A route without an `access` declaration fails at start-up,
 * so no route can be born open by omission.
 */
export function registerAccessControl(app: App, authenticator: Authenticator): void {
  app.decorateRequest('principal', null)
  app.addHook('onRoute', (route) => {
    if (route.config?.access === undefined && !route.url.startsWith('/docs')) {
      throw new Error(`route ${route.method} ${route.url} declares no access rule`)
    }
  })
  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config.access
    if (access === undefined || access === 'public') return
    const principal = await authenticator.authenticate(request)
    if (!principal) throw new Unauthorized()
    if (!principal.roles.some((role) => access.includes(role))) throw new Forbidden()
    request.principal = principal
  })
}
