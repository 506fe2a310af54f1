import type { FastifyRequest } from 'fastify'
import type { Authenticator } from './access.js'
import type { AuthService } from './auth.service.js'

const BEARER = /^Bearer +([^\s]+) *$/i

/** Reads `Authorization: Bearer <access token | ck_ API key>`; anything else carries no credentials. */
export function bearerAuthenticator(auth: AuthService): Authenticator {
  return {
    authenticate: async (request: FastifyRequest) => {
      const credential = BEARER.exec(request.headers.authorization ?? '')?.[1]
      return credential ? auth.authenticateBearer(credential) : null
    },
  }
}
