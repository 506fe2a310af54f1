import { MoneyError } from '../money/index.js'
import { type AppError, defineError } from '../errors.js'

/** The money module stays free of HTTP; its errors enter the catalogue here. */
const moneyProblems = {
  invalid_amount: defineError<MoneyError>({
    code: 'invalid_amount',
    status: 422,
    title: 'Invalid amount',
    detail: (e) => e.message,
    extensions: (e) => ({ ...e.details }),
  }),
  unknown_currency: defineError<MoneyError>({
    code: 'unknown_currency',
    status: 422,
    title: 'Unknown currency',
    detail: (e) => e.message,
    extensions: (e) => ({ ...e.details }),
  }),
  currency_mismatch: defineError<MoneyError>({
    code: 'currency_mismatch',
    status: 422,
    title: 'Currency mismatch',
    detail: (e) => e.message,
    extensions: (e) => ({ ...e.details }),
  }),
  invalid_currency_code: defineError<MoneyError>({
    code: 'invalid_currency_code',
    status: 422,
    title: 'Invalid currency code',
    detail: (e) => e.message,
    extensions: (e) => ({ ...e.details }),
  }),
  invalid_currency_definition: defineError<MoneyError>({
    code: 'invalid_currency_definition',
    status: 422,
    title: 'Invalid currency definition',
    detail: (e) => e.message,
    extensions: (e) => ({ ...e.details }),
  }),
}

export function moneyProblem(error: unknown): AppError | null {
  if (!(error instanceof MoneyError)) return null
  return new moneyProblems[error.code](error)
}
