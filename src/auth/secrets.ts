import { createHash, randomBytes } from 'node:crypto'

export const API_KEY_PREFIX = 'ck_'

/** 32 random bytes, base64url: the refresh tokens and API keys handed out once and stored hashed. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url')
}

export function newApiKey(): string {
  return `${API_KEY_PREFIX}${randomSecret()}`
}

/**
 * SHA-256 suffices for these (unlike passwords): they are 256 random bits, so there is nothing to
 * guess, and a fast hash keeps the per-request lookup cheap.
 */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url')
}
