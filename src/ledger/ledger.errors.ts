import { defineError } from '../errors.js'

export const WalletNotFound = defineError<{ walletId: string }>({
  code: 'wallet_not_found',
  status: 404,
  title: 'Wallet not found',
  detail: (p) => `No wallet ${p.walletId} that you can use`,
  extensions: (p) => ({ walletId: p.walletId }),
})

export const WalletFrozen = defineError<{ walletId: string }>({
  code: 'wallet_frozen',
  status: 409,
  title: 'Wallet is frozen',
  detail: (p) => `Wallet ${p.walletId} is frozen and takes no movement`,
  extensions: (p) => ({ walletId: p.walletId }),
})

export const WalletClosed = defineError<{ walletId: string }>({
  code: 'wallet_closed',
  status: 409,
  title: 'Wallet is closed',
  detail: (p) => `Wallet ${p.walletId} is closed and takes no movement`,
  extensions: (p) => ({ walletId: p.walletId }),
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
  extensions: (p) => ({
    walletId: p.walletId,
    currency: p.currency,
    available: p.available,
    requested: p.requested,
  }),
})

export const LedgerCurrencyMismatch = defineError<{ walletId: string; expected: string; actual: string }>({
  code: 'currency_mismatch',
  status: 422,
  title: 'Currency mismatch',
  detail: (p) => `Wallet ${p.walletId} holds ${p.expected}, not ${p.actual}`,
  extensions: (p) => ({ walletId: p.walletId, expected: p.expected, actual: p.actual }),
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
  extensions: (p) => ({ transactionId: p.transactionId }),
})
