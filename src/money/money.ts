import { type Currency, type CurrencyRegistry, normaliseCurrencyCode } from './currency-registry.js'
import { CurrencyMismatch, MoneyFormatError, type MoneyFormatReason } from './money.errors.js'

/** An amount in minor units of one currency. Amounts are bigint end to end; a JS number never holds one. */
export interface Money {
  readonly minor: bigint
  readonly currency: string
}

export interface ParseAmountOptions {
  allowNegative?: boolean
  allowZero?: boolean
}

// Far beyond any real balance, yet with at most 18 decimals every amount fits 48 significant digits,
// so storage can use a fixed NUMERIC precision.
export const MAX_INTEGER_DIGITS = 30

// No backtracking-prone groups, so the match stays linear on hostile input.
const AMOUNT_PATTERN = /^(-?)([0-9]+)(?:\.([0-9]+))?$/
const WHITESPACE = /\s/u

/**
 * Parses a canonical-looking decimal string into minor units of `currency`. Deliberately strict: anything a
 * client could mean two ways (exponents, separators, extra zeros, a bare '.') is refused, not guessed at.
 */
export function parseAmount(input: string, currency: Currency, opts: ParseAmountOptions = {}): bigint {
  const fail = (reason: MoneyFormatReason, message: string): never => {
    throw new MoneyFormatError(message, { reason, currency: currency.code, decimals: currency.decimals })
  }

  if (input === '') fail('empty', `${currency.code} amount is empty`)
  if (WHITESPACE.test(input)) fail('whitespace', `${currency.code} amount must not contain spaces`)

  const match = AMOUNT_PATTERN.exec(input)
  if (!match) return fail('invalid_format', describeBadFormat(input, currency))
  const [, sign = '', integer = '', fraction = ''] = match

  if (integer.length > 1 && integer.startsWith('0')) {
    fail('leading_zero', `${currency.code} amount must not have leading zeros`)
  }
  if (integer.length > MAX_INTEGER_DIGITS) {
    fail(
      'too_large',
      `${currency.code} amount must have at most ${MAX_INTEGER_DIGITS} digits before the point`,
    )
  }
  // Even trailing zeros beyond the exponent are refused: "10.0" JPY suggests the client has the wrong scale.
  if (fraction.length > currency.decimals) fail('too_precise', describePrecision(currency))

  const negative = sign === '-'
  const magnitude = BigInt(integer + fraction.padEnd(currency.decimals, '0'))

  if (negative && !opts.allowNegative) fail('not_positive', describeSignRule(currency, opts))
  // "-0" has no canonical form (formatAmount never writes it), so it is a format error, not a zero.
  if (negative && magnitude === 0n)
    fail('invalid_format', `${currency.code} amount "-0" is not valid; write 0`)
  if (magnitude === 0n && !opts.allowZero) fail('not_positive', describeSignRule(currency, opts))

  return negative ? -magnitude : magnitude
}

/** The canonical decimal string: always exactly `decimals` fraction digits, '-' only for negatives. */
export function formatAmount(minor: bigint, currency: Currency): string {
  const sign = minor < 0n ? '-' : ''
  const digits = (minor < 0n ? -minor : minor).toString()
  const { decimals } = currency
  if (decimals === 0) return sign + digits
  const padded = digits.padStart(decimals + 1, '0')
  return `${sign}${padded.slice(0, -decimals)}.${padded.slice(-decimals)}`
}

/** Builds a Money; the code is normalised but not looked up, so use parseMoney for untrusted input. */
export function money(minor: bigint, currencyCode: string): Money {
  return Object.freeze({ minor, currency: normaliseCurrencyCode(currencyCode) })
}

export function parseMoney(
  amount: string,
  currencyCode: string,
  registry: CurrencyRegistry,
  opts?: ParseAmountOptions,
): Money {
  const currency = registry.require(currencyCode)
  return money(parseAmount(amount, currency, opts), currency.code)
}

/** The amount only, without the code, because API payloads carry `amount` and `currency` side by side. */
export function formatMoney(m: Money, registry: CurrencyRegistry): string {
  return formatAmount(m.minor, registry.require(m.currency))
}

export function addMoney(a: Money, b: Money): Money {
  assertSameCurrency(a, b)
  return money(a.minor + b.minor, a.currency)
}

export function subtractMoney(a: Money, b: Money): Money {
  assertSameCurrency(a, b)
  return money(a.minor - b.minor, a.currency)
}

function assertSameCurrency(a: Money, b: Money): void {
  if (a.currency !== b.currency) throw new CurrencyMismatch({ expected: a.currency, actual: b.currency })
}

function exampleAmount(currency: Currency): string {
  return currency.decimals === 0 ? '10' : `10.${'5'.padEnd(currency.decimals, '0')}`
}

function describeBadFormat(input: string, currency: Currency): string {
  const expected = `${currency.code} amount must be a plain decimal number such as "${exampleAmount(currency)}"`
  if (input.startsWith('+')) return `${expected}; a leading '+' is not allowed`
  if (/^-?[0-9.]*[eE]/.test(input)) return `${expected}; exponent notation is not allowed`
  if (/^-?[0-9]*\.([0-9]*)$/.test(input)) return `${expected}; a decimal point needs digits on both sides`
  return expected
}

function describePrecision(currency: Currency): string {
  const { code, decimals } = currency
  if (decimals === 0) return `${code} allows no decimals`
  return `${code} allows at most ${decimals} ${decimals === 1 ? 'decimal' : 'decimals'}`
}

function describeSignRule(currency: Currency, opts: ParseAmountOptions): string {
  if (opts.allowNegative) return `${currency.code} amount must not be zero`
  if (opts.allowZero) return `${currency.code} amount must not be negative`
  return `${currency.code} amount must be greater than zero`
}
