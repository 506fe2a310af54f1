import { defineError } from '../errors.js'

export const WalletNotFound = defineError<{ walletId: string }>({
  code: 'wallet_not_found',
  status: 404,
  title: 'Wallet not found',
  detail: (p) => `No wallet ${p.walletId} that you can use`,
  members: ['walletId'],
})

export const WalletFrozen = defineError<{ walletId: string }>({
  code: 'wallet_frozen',
  status: 409,
  title: 'Wallet is frozen',
  detail: (p) => `Wallet ${p.walletId} is frozen and takes no movement`,
  members: ['walletId'],
})

export const WalletClosed = defineError<{ walletId: string }>({
  code: 'wallet_closed',
  status: 409,
  title: 'Wallet is closed',
  detail: (p) => `Wallet ${p.walletId} is closed and takes no movement`,
  members: ['walletId'],
})

export const InsufficientFunds = defineError<{
  walletId: string
  currency: string
  available: string
  requested: string
}>({
  code: 'insufficient_funds',
  status: 422,
  title: 'Insufficient funds',
  detail: (p) => `Wallet ${p.walletId} has ${p.available} ${p.currency} available; ${p.requested} requested`,
  members: ['walletId', 'currency', 'available', 'requested'],
})

/**
 * The one currency_mismatch: a leg in another currency than its wallet's (the posting engine), or
 * two amounts of different currencies combined (the money module's CurrencyMismatch, which
 * src/http/money.errors.ts renders as this).
 */
export const CurrencyMismatch = defineError<{ walletId?: string; expected: string; actual: string }>({
  code: 'currency_mismatch',
  status: 422,
  title: 'Currency mismatch',
  members: ['walletId', 'expected', 'actual'],
  detail: (p) =>
    p.walletId === undefined
      ? `Cannot combine ${p.expected} with ${p.actual}`
      : `Wallet ${p.walletId} holds ${p.expected}, not ${p.actual}`,
})

export const AmountTooLarge = defineError({
  code: 'amount_too_large',
  status: 422,
  title: 'Amount too large',
  detail: 'The amount or the resulting balance exceeds 38 digits of minor units',
})

export const TransactionNotFound = defineError<{ transactionId: string }>({
  code: 'transaction_not_found',
  status: 404,
  title: 'Transaction not found',
  detail: (p) => `No transaction ${p.transactionId} that you can see`,
  members: ['transactionId'],
})
