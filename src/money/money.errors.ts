// Domain errors for money and currencies. Each carries a stable snake_case `code` that the HTTP layer maps
// to problem+json, and a `details` object meant for the caller. Amount errors leave the raw input out of
// `details` so an arbitrarily long or hostile string is never reflected back.

export type MoneyErrorCode =
  | 'invalid_amount'
  | 'unknown_currency'
  | 'currency_mismatch'
  | 'invalid_currency_code'
  | 'invalid_currency_definition'

export abstract class MoneyError<Details extends object = object> extends Error {
  abstract readonly code: MoneyErrorCode
  readonly details: Details

  constructor(message: string, details: Details) {
    super(message)
    this.name = new.target.name
    this.details = details
  }
}

export type MoneyFormatReason =
  | 'empty'
  | 'whitespace'
  | 'invalid_format'
  | 'leading_zero'
  | 'too_precise'
  | 'too_large'
  | 'not_positive'

export interface MoneyFormatDetails {
  reason: MoneyFormatReason
  currency: string
  decimals: number
}

export class MoneyFormatError extends MoneyError<MoneyFormatDetails> {
  readonly code = 'invalid_amount'
  readonly reason: MoneyFormatReason

  constructor(message: string, details: MoneyFormatDetails) {
    super(message, details)
    this.reason = details.reason
  }
}

export class UnknownCurrency extends MoneyError<{ currency: string }> {
  readonly code = 'unknown_currency'

  constructor(details: { currency: string }) {
    super(`Unknown currency ${JSON.stringify(details.currency)}`, details)
  }
}

export class CurrencyMismatch extends MoneyError<{ expected: string; actual: string }> {
  readonly code = 'currency_mismatch'

  constructor(details: { expected: string; actual: string }) {
    super(`Cannot combine ${details.expected} with ${details.actual}`, details)
  }
}

export type InvalidCurrencyCodeReason = 'malformed' | 'iso4217_reserved'

export class InvalidCurrencyCode extends MoneyError<{ currency: string; reason: InvalidCurrencyCodeReason }> {
  readonly code = 'invalid_currency_code'

  constructor(message: string, details: { currency: string; reason: InvalidCurrencyCodeReason }) {
    super(message, details)
  }
}

export class InvalidCurrencyDefinition extends MoneyError<{ currency: string; field: 'decimals' | 'name' }> {
  readonly code = 'invalid_currency_definition'

  constructor(message: string, details: { currency: string; field: 'decimals' | 'name' }) {
    super(message, details)
  }
}
