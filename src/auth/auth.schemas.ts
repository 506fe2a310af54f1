import { type Static, Type } from 'typebox'
import { StringEnum } from '../http/enum.schemas.js'
import { ListLimit, SingleLineText } from '../http/input.schemas.js'
import type { Role } from './principal.js'

export const PASSWORD_MIN_LENGTH = 10
export const PASSWORD_MAX_LENGTH = 256

export const RoleSchema = StringEnum(['user', 'admin', 'service'], {
  $id: 'Role',
  description: 'user: a person with wallets; admin: an operator; service: another back end (API keys)',
})

// The schema lists the roles by hand so TypeBox infers them; this keeps it in step with ROLES.
const _rolesInStep: [Static<typeof RoleSchema>, Role] extends [Role, Static<typeof RoleSchema>]
  ? true
  : never = true

// Surrounding spaces are accepted here and trimmed by the service, as the contract promises.
const Email = Type.String({
  maxLength: 320,
  pattern: '^\\s*[^\\s@]+@[^\\s@]+\\s*$',
  description: 'Trimmed and compared case-insensitively',
  examples: ['ada@example.com'],
})

const Timestamp = Type.String({ format: 'date-time' })

export const RegisterBody = Type.Object(
  {
    email: Email,
    password: Type.String({
      minLength: PASSWORD_MIN_LENGTH,
      maxLength: PASSWORD_MAX_LENGTH,
      description: `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters; never logged or returned`,
    }),
    name: Type.Optional(SingleLineText({ minLength: 1, maxLength: 200 })),
  },
  { $id: 'RegisterRequest', additionalProperties: false },
)
export type RegisterBody = Static<typeof RegisterBody>

export const SignInBody = Type.Object(
  {
    email: Email,
    // No minimum: a policy hint on sign-in would only help guessing.
    password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }),
  },
  { $id: 'SignInRequest', additionalProperties: false },
)
export type SignInBody = Static<typeof SignInBody>

export const RefreshBody = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 512 }) },
  { $id: 'RefreshRequest', additionalProperties: false },
)

export const TokenPair = Type.Object(
  {
    accessToken: Type.String({ description: 'EdDSA-signed JWT; send as Authorization: Bearer <token>' }),
    refreshToken: Type.String({ description: 'Opaque; exchange once at /api/v1/auth/refresh' }),
    tokenType: Type.Literal('Bearer'),
    expiresIn: Type.Integer({ description: 'Seconds until the access token expires' }),
  },
  { $id: 'TokenPair' },
)
export type TokenPair = Static<typeof TokenPair>

export const User = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    email: Type.Union([Type.String(), Type.Null()], {
      description: 'Null for a user known only through an external identity provider',
    }),
    name: Type.Union([Type.String(), Type.Null()]),
    roles: Type.Array(RoleSchema),
    createdAt: Timestamp,
  },
  { $id: 'User' },
)
export type User = Static<typeof User>

export const Me = Type.Object(
  {
    kind: StringEnum(['user', 'api_key']),
    id: Type.String({ description: 'The user id, or the API key id' }),
    userId: Type.Union([Type.String(), Type.Null()]),
    roles: Type.Array(RoleSchema),
    user: Type.Union([User, Type.Null()], { description: 'The signed-in user; null for an API key' }),
  },
  { $id: 'Me', description: 'The caller: a signed-in user or an API key' },
)
export type Me = Static<typeof Me>

export const Session = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    createdAt: Timestamp,
    refreshedAt: Type.Union([Timestamp, Type.Null()]),
    current: Type.Boolean({ description: 'True for the session of the token making this request' }),
  },
  { $id: 'Session', description: 'A signed-in device: one sign-in and its chain of refreshes' },
)
export type Session = Static<typeof Session>

export const SessionList = Type.Object({ items: Type.Array(Session) }, { $id: 'SessionList' })

export const IdParams = Type.Object({
  id: Type.String({ format: 'uuid', description: 'The id of the session or API key' }),
})

export const CreateApiKeyBody = Type.Object(
  {
    name: SingleLineText({ minLength: 1, maxLength: 100, examples: ['payments-gateway'] }),
    roles: Type.Array(RoleSchema, { minItems: 1, maxItems: 3, uniqueItems: true, examples: [['service']] }),
  },
  { $id: 'CreateApiKeyRequest', additionalProperties: false },
)
export type CreateApiKeyBody = Static<typeof CreateApiKeyBody>

export const ApiKey = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    prefix: Type.String({ description: 'The first characters of the key, to tell keys apart' }),
    roles: Type.Array(RoleSchema),
    createdBy: Type.Union([Type.String(), Type.Null()]),
    createdAt: Timestamp,
    revokedAt: Type.Union([Timestamp, Type.Null()]),
  },
  { $id: 'ApiKey' },
)
export type ApiKey = Static<typeof ApiKey>

export const CreatedApiKey = Type.Object(
  {
    ...ApiKey.properties,
    key: Type.String({ description: 'The secret, shown this once: ck_ followed by 43 characters' }),
  },
  { $id: 'CreatedApiKey' },
)
export type CreatedApiKey = Static<typeof CreatedApiKey>

export const ApiKeyListQuery = Type.Object({
  limit: Type.Optional(ListLimit),
  cursor: Type.Optional(SingleLineText({ maxLength: 100, description: 'nextCursor of the previous page' })),
})

export const ApiKeyList = Type.Object(
  {
    items: Type.Array(ApiKey),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next page' }),
  },
  { $id: 'ApiKeyList' },
)
export type ApiKeyList = Static<typeof ApiKeyList>

export const PublicJwkSchema = Type.Object(
  {
    kty: Type.String(),
    crv: Type.String(),
    x: Type.String(),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.String(),
  },
  { $id: 'Jwk', description: 'An Ed25519 public key (RFC 8037)' },
)

export const Jwks = Type.Object({ keys: Type.Array(PublicJwkSchema) }, { $id: 'JwkSet' })
