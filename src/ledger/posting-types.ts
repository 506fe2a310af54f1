/**
 * What the posting engine takes and gives: the shapes of a posting, of a posted transaction and
 * of a wallet under the engine's lock, with the constants they are made of (the transaction types,
 * the NUMERIC bound). No code: the engine, holds, group commit and the services share these
 * without importing each other.
 */

import type { AppError } from '../errors.js'
import type { OutboxEvent } from '../events/outbox.js'
import type { SystemAccountRef } from './system-accounts.js'

export const TRANSACTION_TYPES = [
  'deposit',
  'withdrawal',
  'transfer',
  'purchase',
  'hold',
  'capture',
  'void',
  'reversal',
  'exchange',
  'points_earn',
  'points_spend',
  'points_adjust',
  'points_expire',
  // Pending points becoming available: lowers the point account's pending, moves nothing.
  'points_available',
  'points_reversal',
] as const
export type TransactionType = (typeof TRANSACTION_TYPES)[number]

/** A wallet by id, or a system account by name and currency. */
export type LegAccount = { wallet: string } | { system: SystemAccountRef }

/** One side of a posting: a signed amount, negative for a debit. */
export interface Leg {
  account: LegAccount
  currency: string
  amount: bigint
}

export interface PostingRequest {
  /** Set when the caller must know the id before posting (e.g. to link a hold to it). */
  id?: string
  type: TransactionType
  /** The headline amount and currency of the transaction (the debited side of an exchange). */
  currency: string
  amount: bigint
  legs: Leg[]
  /** Changes to the held amount of wallets: + when a hold is placed, - when it is released. */
  pendingChanges?: { walletId: string; delta: bigint }[]
  reference?: string | null
  description?: string | null
  metadata?: Record<string, unknown> | null
  reversesId?: string | null
  flags?: string[]
  /** Wallets this posting may take below their floor (an admin's forced reversal). */
  overdraftAllowed?: string[]
  /** A pure release of held money (void, expiry) goes through even on a frozen wallet. */
  releaseOnly?: boolean
  /** Checked on the locked wallets before anything else, e.g. that the caller owns the source. */
  authorize?: (wallets: ReadonlyMap<string, LockedWallet>) => AppError | null
  /** Events to write to the outbox with the transaction. */
  events?: (posted: PostedTransaction) => OutboxEvent[]
}

export interface PostedEntry {
  accountId: string
  walletId: string | null
  /** The owner of a wallet entry (null for a system account), so a view can tell whose balance it is. */
  ownerUserId: string | null
  systemName: string | null
  currency: string
  amount: bigint
  balanceAfter: bigint | null
}

export interface PostedTransaction {
  id: string
  type: TransactionType
  status: string
  currency: string
  amount: bigint
  reference: string | null
  description: string | null
  metadata: Record<string, unknown> | null
  reversesId: string | null
  flags: string[]
  createdAt: Date
  entries: PostedEntry[]
}

/** A wallet row as the engine sees it while holding its lock. */
export interface LockedWallet {
  id: string
  userId: string
  currency: string
  balance: bigint
  pending: bigint
  floor: bigint
  status: 'active' | 'frozen' | 'closed'
  /** The row's version when locked; the engine writes version + 1 with the new balance. */
  version: bigint
  createdAt: Date
}

export type PostingOutcome = { ok: true; posted: PostedTransaction } | { ok: false; error: AppError }

/**
 * Amounts are NUMERIC(38, 0) minor units: no amount or balance may reach 10^38, and nothing that
 * will be posted (an exchange's quote included) may promise more.
 */
export const NUMERIC_LIMIT = 10n ** 38n

export type FormatAmount = (minor: bigint, currency: string) => string
