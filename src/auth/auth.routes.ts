import { Type } from 'typebox'
import type { App } from '../http/app-type.js'
import { NoBody } from '../http/input.schemas.js'
import { problemResponses } from '../http/problem.schemas.js'
import { adminOnly, anyone, jsonResponse, security } from '../http/route-conventions.js'
import { principalOf } from './access.js'
import {
  ApiKeyList,
  ApiKeyListQuery,
  CreateApiKeyBody,
  CreatedApiKey,
  IdParams,
  Jwks,
  Me,
  RefreshBody,
  RegisterBody,
  SessionList,
  SignInBody,
  TokenPair,
  User,
} from './auth.schemas.js'
import type { AuthService } from './auth.service.js'
import { authRateLimits } from './rate-limits.js'

const NoContent = Type.Null({ description: 'No content' })
const tokens = jsonResponse(TokenPair, {
  description: 'An access token and the refresh token that renews it',
})

/** /auth/* and /api-keys, registered under /api/v1. */
export async function authRoutes(
  app: App,
  deps: { auth: AuthService; authRateLimitPerMinute: number },
): Promise<void> {
  const { auth } = deps
  const limits = authRateLimits(app, deps.authRateLimitPerMinute)
  const tags = ['auth']

  app.post(
    '/auth/register',
    {
      config: { access: 'public' },
      onRequest: limits.perIp,
      preHandler: limits.perEmail,
      schema: {
        operationId: 'register',
        tags,
        summary: 'Create a user account (role user)',
        description:
          'Public. An email already registered is 409 email_taken. Rate limited per IP and per email (429, Retry-After); then sign in.',
        security: [],
        body: RegisterBody,
        response: {
          201: jsonResponse(User, { description: 'The new user' }),
          ...problemResponses(400, 409, 429),
        },
      },
    },
    async (request, reply) => reply.status(201).send(await auth.register(request.body)),
  )

  app.post(
    '/auth/sign-in',
    {
      config: { access: 'public' },
      onRequest: limits.perIp,
      preHandler: limits.perEmail,
      schema: {
        operationId: 'signIn',
        tags,
        summary: 'Exchange email and password for an access token and a refresh token',
        description:
          'Public. A wrong password and an unknown email give the same 401 invalid_credentials. Rate limited per IP and per email (429, Retry-After). Each sign-in starts a session.',
        security: [],
        body: SignInBody,
        response: { 200: tokens, ...problemResponses(400, 401, 429) },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store')
      return auth.signIn(request.body)
    },
  )

  app.post(
    '/auth/refresh',
    {
      config: { access: 'public' },
      onRequest: limits.perIp,
      schema: {
        operationId: 'refreshTokens',
        tags,
        summary: 'Exchange a refresh token for a new pair; the old refresh token stops working',
        description:
          'Public: the refresh token is the credential. Presenting a refresh token that was already exchanged revokes its whole session (reuse detection), so keep only the newest. Rate limited per IP.',
        security: [],
        body: RefreshBody,
        response: { 200: tokens, ...problemResponses(400, 401, 429) },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store')
      return auth.refresh(request.body.refreshToken)
    },
  )

  app.post(
    '/auth/sign-out',
    {
      config: { access: anyone },
      schema: {
        operationId: 'signOut',
        tags,
        summary: 'End the session of the bearer token: its refresh and access tokens stop working',
        description: 'Signed-in users. An API key has no session: 409 no_session (revoke the key instead).',
        security,
        body: NoBody,
        response: { 204: NoContent, ...problemResponses(401, 409) },
      },
    },
    async (request, reply) => {
      await auth.signOut(principalOf(request))
      return reply.status(204).send(null)
    },
  )

  app.get(
    '/auth/me',
    {
      config: { access: anyone },
      schema: {
        operationId: 'getMe',
        tags,
        summary: 'The caller: a user or an API key, with its roles',
        description: 'Any credential: who it is and what it may do.',
        security,
        response: { 200: Me, ...problemResponses(401) },
      },
    },
    async (request) => auth.me(principalOf(request)),
  )

  app.get(
    '/auth/sessions',
    {
      config: { access: anyone },
      schema: {
        operationId: 'listSessions',
        tags,
        summary: "The caller's active sessions (signed-in devices)",
        description: 'Signed-in users: every session not signed out or expired, the current one marked.',
        security,
        response: { 200: SessionList, ...problemResponses(401) },
      },
    },
    async (request) => ({ items: await auth.listSessions(principalOf(request)) }),
  )

  app.delete(
    '/auth/sessions/:id',
    {
      config: { access: anyone },
      schema: {
        operationId: 'revokeSession',
        tags,
        summary: 'Sign out one of your sessions; a session of someone else is 404',
        description: 'Signed-in users. Its refresh token and its access tokens stop working.',
        security,
        params: IdParams,
        body: NoBody,
        response: { 204: NoContent, ...problemResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await auth.revokeSession(principalOf(request), request.params.id)
      return reply.status(204).send(null)
    },
  )

  const apiKeyTags = ['api-keys']

  app.post(
    '/api-keys',
    {
      config: { access: adminOnly },
      schema: {
        operationId: 'createApiKey',
        tags: apiKeyTags,
        summary: 'Create an API key for a service; the key is in this response only',
        description: 'Admins only. Store the key at once: only its prefix is kept in readable form.',
        security,
        body: CreateApiKeyBody,
        response: {
          201: jsonResponse(CreatedApiKey, { description: 'The new key, with its secret' }),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    async (request, reply) => {
      const key = await auth.createApiKey({ ...request.body, createdBy: principalOf(request).userId })
      reply.header('cache-control', 'no-store')
      return reply.status(201).send(key)
    },
  )

  app.get(
    '/api-keys',
    {
      config: { access: adminOnly },
      schema: {
        operationId: 'listApiKeys',
        tags: apiKeyTags,
        summary: 'API keys, newest first, without their secrets',
        description:
          'Admins only. Paged by limit (default 50, at most 500) and cursor (the nextCursor of the previous page).',
        security,
        querystring: ApiKeyListQuery,
        response: { 200: ApiKeyList, ...problemResponses(400, 401, 403) },
      },
    },
    async (request) => auth.listApiKeys({ limit: request.query.limit ?? 50, cursor: request.query.cursor }),
  )

  app.delete(
    '/api-keys/:id',
    {
      config: { access: adminOnly },
      schema: {
        operationId: 'revokeApiKey',
        tags: apiKeyTags,
        summary: 'Revoke an API key; requests with it are refused from now on',
        description: 'Admins only. Every Coffer process refuses the key once the revocation reaches it.',
        security,
        params: IdParams,
        body: NoBody,
        response: { 204: NoContent, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await auth.revokeApiKey(request.params.id)
      return reply.status(204).send(null)
    },
  )
}

/** GET /.well-known/jwks.json, at the root so other services find it where they expect it. */
export async function jwksRoutes(app: App, deps: { auth: AuthService }): Promise<void> {
  app.get(
    '/.well-known/jwks.json',
    {
      config: { access: 'public' },
      schema: {
        operationId: 'getJwks',
        tags: ['auth'],
        summary: "The public keys that verify Coffer's access tokens",
        description: 'Public, cacheable for 5 minutes: other services verify access tokens with these keys.',
        security: [],
        response: { 200: jsonResponse(Jwks, { description: 'The JSON Web Key Set' }) },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return deps.auth.jwks()
    },
  )
}
