import { defineError } from '../errors.js'

export const Unauthorized = defineError<{ detail?: string } | undefined>({
  code: 'unauthorized',
  status: 401,
  title: 'Authentication required',
  detail: (p) => p?.detail ?? 'A valid bearer token or API key is required',
})

export const Forbidden = defineError({
  code: 'forbidden',
  status: 403,
  title: 'Forbidden',
  detail: 'Your role does not allow this operation',
})

export const EmailTaken = defineError({
  code: 'email_taken',
  status: 409,
  title: 'Email already registered',
  detail: 'An account with this email already exists',
})

/** One answer for an unknown email and a wrong password, so sign-in does not reveal accounts. */
export const InvalidCredentials = defineError({
  code: 'invalid_credentials',
  status: 401,
  title: 'Invalid credentials',
  detail: 'The email or password is incorrect',
})

/** One answer for unknown, expired, rotated and revoked refresh tokens. */
export const InvalidRefreshToken = defineError({
  code: 'invalid_refresh_token',
  status: 401,
  title: 'Invalid refresh token',
  detail: 'The refresh token is not valid; sign in again',
})

export const ApiKeyNotFound = defineError<{ id: string }>({
  code: 'api_key_not_found',
  status: 404,
  title: 'API key not found',
  detail: (p) => `No API key ${p.id}`,
})

export const SessionNotFound = defineError<{ id: string }>({
  code: 'session_not_found',
  status: 404,
  title: 'Session not found',
  detail: (p) => `No session ${p.id}`,
})

export const NoSessionToEnd = defineError({
  code: 'no_session',
  status: 409,
  title: 'No session to end',
  detail: 'This credential has no session; revoke an API key with DELETE /api/v1/api-keys/{id}',
})

/** GET /users/{id}, and a userId naming nobody (or, for a plain user, anyone but themselves). */
export const UserNotFound = defineError<{ userId: string }>({
  code: 'user_not_found',
  status: 404,
  title: 'User not found',
  detail: (p) => `No user ${p.userId}`,
  members: ['userId'],
})
