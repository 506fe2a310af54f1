/**
 * Who is calling and what they may do, free of HTTP: services, repositories and tables take a
 * Principal; the Fastify side (the access hook, the request decoration) is in access.ts.
 */
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

export function hasRole(principal: Principal, ...roles: Role[]): boolean {
  return principal.roles.some((role) => roles.includes(role))
}
