import type { FastifyRequest } from 'fastify'
import type { App } from '../http/app-type.js'
import { Forbidden, Unauthorized } from './auth.errors.js'
import type { Principal, Role } from './principal.js'

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
