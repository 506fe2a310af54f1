import { randomBytes } from 'node:crypto'
import { type Algorithm, hash, verify } from '@node-rs/argon2'

// The library's Algorithm is an ambient const enum, which isolatedModules cannot read at run time.
const ARGON2ID = 2 as Algorithm.Argon2id

/** argon2id with the library's defaults (19 MiB, 2 passes, 1 lane): OWASP's minimum profile. */
export function hashPassword(password: string): Promise<string> {
  return hash(password, { algorithm: ARGON2ID })
}

let dummyHash: Promise<string> | undefined

/**
 * Checks a password against a stored hash. With no hash (unknown email, external-only user) it
 * verifies against a throwaway hash anyway, so the answer takes as long as for a real account
 * and timing does not reveal which emails are registered.
 */
export async function passwordMatches(storedHash: string | null, password: string): Promise<boolean> {
  if (storedHash === null) {
    dummyHash ??= hashPassword(randomBytes(24).toString('base64url'))
    await verify(await dummyHash, password).catch(() => false)
    return false
  }
  return verify(storedHash, password).catch(() => false)
}
