import { InvalidFxRate } from './fx.errors.js'

/**
 * An exchange rate held exactly: `units / 10^scale`, plus the text it was given as. A rate is never
 * a JS number: 151.237 or 0.000000123456789012345678 must convert to the same minor unit on every
 * run, and a float cannot promise that.
 */
export interface ExactRate {
  readonly text: string
  readonly units: bigint
  readonly scale: number
}

export const MAX_RATE_SIGNIFICANT_DIGITS = 30
/** Digits after the point; allows a rate as small as 1e-40 while keeping the text short. */
export const MAX_RATE_SCALE = 40

const RATE_PATTERN = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/

/**
 * Parses a positive plain decimal ("151.237"). Trailing zeros are kept as given, so the rate reads
 * back digit for digit; exponents, signs and leading zeros are refused rather than guessed at.
 */
export function parseRate(text: string): ExactRate {
  const match =
    text.length <= MAX_RATE_SCALE + MAX_RATE_SIGNIFICANT_DIGITS + 2 ? RATE_PATTERN.exec(text) : null
  if (!match) {
    throw new InvalidFxRate({
      reason: 'invalid_format',
      detail:
        'A rate must be a plain positive decimal such as "151.237", with no sign, exponent or leading zeros',
    })
  }
  const [, integer = '', fraction = ''] = match
  if (fraction.length > MAX_RATE_SCALE) {
    throw new InvalidFxRate({
      reason: 'too_precise',
      detail: `A rate has at most ${MAX_RATE_SCALE} decimals`,
    })
  }
  const units = BigInt(integer + fraction)
  if (units === 0n)
    throw new InvalidFxRate({ reason: 'not_positive', detail: 'A rate must be greater than zero' })
  if (units.toString().length > MAX_RATE_SIGNIFICANT_DIGITS) {
    throw new InvalidFxRate({
      reason: 'too_precise',
      detail: `A rate has at most ${MAX_RATE_SIGNIFICANT_DIGITS} significant digits`,
    })
  }
  return { text, units, scale: fraction.length }
}

/**
 * Minor units of the target currency for `amount` minor units of the source, rounded down:
 * floor(amount / 10^fromDecimals * rate * 10^toDecimals), all in bigint, so the only rounding is
 * the one final floor the customer is told about.
 */
export function convertAmount(
  amount: bigint,
  rate: ExactRate,
  fromDecimals: number,
  toDecimals: number,
): bigint {
  if (amount <= 0n) throw new Error('convertAmount takes a positive amount')
  const shift = toDecimals - fromDecimals - rate.scale
  const product = amount * rate.units
  // Both factors are positive, so bigint division (which truncates) is the floor.
  return shift >= 0 ? product * 10n ** BigInt(shift) : product / 10n ** BigInt(-shift)
}
