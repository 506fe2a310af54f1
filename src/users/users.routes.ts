import { User } from '../auth/auth.schemas.js'
import type { AuthService } from '../auth/auth.service.js'
import type { App } from '../http/app-type.js'
import { problemResponses } from '../http/problem.schemas.js'
import { adminOnly, jsonResponse, security } from '../http/route-conventions.js'
import { UserList, UserListQuery, UserParams } from './users.schemas.js'

const tags = ['users']

/**
 * The admins' directory of users, registered under /api/v1. The users are the auth module's: this
 * module is their HTTP face for operators, and every read goes through AuthService.
 */
export async function userRoutes(app: App, deps: { auth: AuthService }): Promise<void> {
  const { auth } = deps

  app.get(
    '/users',
    {
      config: { access: adminOnly },
      schema: {
        operationId: 'listUsers',
        tags,
        summary: 'Users, newest first, optionally filtered by email',
        description:
          'Admins only. `email` keeps the users whose email contains it, ignoring case. Paged by ' +
          '`limit` (default 50, at most 500) and `cursor` (the `nextCursor` of the previous page); a ' +
          'cursor this API did not issue is 400 `invalid_cursor`, a limit past 500 is 422 `limit_exceeded`.',
        security,
        querystring: UserListQuery,
        response: {
          200: jsonResponse(UserList, { description: 'A page of users, newest first' }),
          ...problemResponses(400, 401, 403, 422),
        },
      },
    },
    async (request) =>
      auth.listUsers({
        limit: request.query.limit ?? 50,
        cursor: request.query.cursor,
        email: request.query.email,
      }),
  )

  app.get(
    '/users/:id',
    {
      config: { access: adminOnly },
      schema: {
        operationId: 'getUser',
        tags,
        summary: 'One user',
        description:
          'Admins only. An id that names no user is 404 `user_not_found`. Their wallets are ' +
          '`GET /api/v1/wallets?userId={id}`.',
        security,
        params: UserParams,
        response: {
          200: jsonResponse(User, { description: 'The user' }),
          ...problemResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => auth.getUser(request.params.id),
  )
}
