import { type AppError, defineError } from '../errors.js'
import { CurrencyMismatch } from '../ledger/ledger.errors.js'
import {
  type CurrencyMismatch as MoneyCurrencyMismatch,
  MoneyError,
  type MoneyErrorCode,
} from '../money/index.js'

/**
 * The money module stays free of the catalogue; its errors enter it here, their `details` as the
 * extra members. Its CurrencyMismatch becomes the ledger's currency_mismatch, the one definition
 * of that code (a wallet's leg in another currency raises it too).
 */
export const InvalidAmountProblem = defineError<MoneyError>({
  code: 'invalid_amount',
  status: 422,
  title: 'Invalid amount',
  members: ['reason', 'currency', 'decimals'],
  detail: (e) => e.message,
  extensions: (e) => ({ ...e.details }),
})

export const UnknownCurrencyProblem = defineError<MoneyError>({
  code: 'unknown_currency',
  status: 422,
  title: 'Unknown currency',
  members: ['currency'],
  detail: (e) => e.message,
  extensions: (e) => ({ ...e.details }),
})

export const InvalidCurrencyCodeProblem = defineError<MoneyError>({
  code: 'invalid_currency_code',
  status: 422,
  title: 'Invalid currency code',
  members: ['currency', 'reason'],
  detail: (e) => e.message,
  extensions: (e) => ({ ...e.details }),
})

export const InvalidCurrencyDefinitionProblem = defineError<MoneyError>({
  code: 'invalid_currency_definition',
  status: 422,
  title: 'Invalid currency definition',
  members: ['currency', 'field'],
  detail: (e) => e.message,
  extensions: (e) => ({ ...e.details }),
})

const moneyProblems: Record<Exclude<MoneyErrorCode, 'currency_mismatch'>, typeof InvalidAmountProblem> = {
  invalid_amount: InvalidAmountProblem,
  unknown_currency: UnknownCurrencyProblem,
  invalid_currency_code: InvalidCurrencyCodeProblem,
  invalid_currency_definition: InvalidCurrencyDefinitionProblem,
}

export function moneyProblem(error: unknown): AppError | null {
  if (!(error instanceof MoneyError)) return null
  if (error.code === 'currency_mismatch') {
    return new CurrencyMismatch(error.details as MoneyCurrencyMismatch['details'])
  }
  return new moneyProblems[error.code](error)
}
