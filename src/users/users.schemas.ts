import { type Static, Type } from 'typebox'
import { User } from '../auth/auth.schemas.js'
import { ListLimit, SingleLineText } from '../http/input.schemas.js'

export const UserListQuery = Type.Object(
  {
    email: Type.Optional(
      SingleLineText({
        maxLength: 320,
        description:
          'Only users whose email contains this text, compared case-insensitively (a prefix, a domain, a name); empty matches everyone',
        examples: ['@example.com'],
      }),
    ),
    limit: Type.Optional(ListLimit),
    cursor: Type.Optional(SingleLineText({ maxLength: 200, description: 'nextCursor of the previous page' })),
  },
  { additionalProperties: false },
)
export type UserListQuery = Static<typeof UserListQuery>

export const UserList = Type.Object(
  {
    items: Type.Array(User, { description: 'Newest first' }),
    nextCursor: Type.Union([Type.String(), Type.Null()], {
      description: 'Pass as cursor, with the same email, for the next page; null on the last page',
    }),
  },
  { $id: 'UserList' },
)
export type UserList = Static<typeof UserList>

export const UserParams = Type.Object({ id: Type.String({ format: 'uuid', description: 'The user id' }) })
