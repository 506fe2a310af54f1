import { createHash } from 'node:crypto'

/**
 * The accounts on the other side of user wallets, one per name and currency: `world` (money
 * entering and leaving), `merchant:<id>` (purchases), `fx` (exchange), `points:issuer`.
 */
export interface SystemAccountRef {
  name: string
  currency: string
}

const SYSTEM_NAME = /^(world|fx|points:issuer|merchant:[A-Za-z0-9._:-]{1,100})$/

export function isValidSystemAccountName(name: string): boolean {
  return SYSTEM_NAME.test(name)
}

/**
 * A system account's id is derived from its name and currency, so the posting engine can create
 * it in the same statement that first posts to it, with no lookup and no race between writers.
 */
export function systemAccountId(ref: SystemAccountRef): string {
  const hash = createHash('sha256').update(`coffer-system-account:${ref.name}:${ref.currency}`).digest()
  // UUIDv8 layout: version 8 in the 13th nibble, RFC 4122 variant bits
  hash[6] = (hash[6]! & 0x0f) | 0x80
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
