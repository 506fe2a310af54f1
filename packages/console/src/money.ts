/**
 * Amounts stay decimal strings from the API to the screen: they are checked and padded as text, and
 * compared or summed as BigInt minor units. No JS number ever holds an amount, so 0.1 + 0.2 cannot
 * appear on a balance.
 */

const UNSIGNED_DECIMAL = /^(\d+)(?:\.(\d+))?$/
const SIGNED_DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/

export type AmountCheck = { ok: true; amount: string } | { ok: false; message: string }

/** What a person typed into an "Amount" field, checked against the currency's decimals before sending. */
export function checkAmountInput(typed: string, decimals: number, currency: string): AmountCheck {
  const amount = typed.trim()
  if (amount === '') return { ok: false, message: 'Enter an amount' }
  const match = UNSIGNED_DECIMAL.exec(amount)
  if (!match) return { ok: false, message: 'Enter a positive amount in digits, e.g. 10.50' }
  const fraction = match[2] ?? ''
  if (fraction.length > decimals) {
    return {
      ok: false,
      message:
        decimals === 0
          ? `${currency} has no decimals: enter a whole amount`
          : `${currency} allows at most ${decimals} decimal${decimals === 1 ? '' : 's'}`,
    }
  }
  if (toMinorUnits(amount, decimals) <= 0n) return { ok: false, message: 'The amount must be more than zero' }
  return { ok: true, amount }
}

/** A signed decimal string as BigInt minor units of a currency with `decimals` digits after the point. */
export function toMinorUnits(amount: string, decimals: number): bigint {
  const match = SIGNED_DECIMAL.exec(amount.trim())
  if (!match) throw new Error(`Not a decimal amount: ${amount}`)
  const [, sign, whole = '0', fraction = ''] = match
  if (fraction.length > decimals) throw new Error(`${amount} has more than ${decimals} decimals`)
  const minor = BigInt(whole + fraction.padEnd(decimals, '0'))
  return sign === '-' ? -minor : minor
}

/** BigInt minor units back to a decimal string with exactly `decimals` digits after the point. */
export function fromMinorUnits(minor: bigint, decimals: number): string {
  const negative = minor < 0n
  const digits = (negative ? -minor : minor).toString().padStart(decimals + 1, '0')
  const whole = digits.slice(0, digits.length - decimals)
  const fraction = digits.slice(digits.length - decimals)
  return `${negative ? '-' : ''}${whole}${decimals > 0 ? `.${fraction}` : ''}`
}

/**
 * An amount from the API shown with exactly the currency's decimals (`100` → `100.00` for USD).
 * Falls back to the string as sent when it is not a plain decimal or has more digits than expected,
 * so a display never rounds money.
 */
export function formatAmount(amount: string, decimals: number): string {
  const match = SIGNED_DECIMAL.exec(amount.trim())
  if (!match || (match[3] ?? '').length > decimals) return amount
  return fromMinorUnits(toMinorUnits(amount, decimals), decimals)
}

/** -1, 0 or 1, comparing two decimal strings exactly. */
export function compareAmounts(a: string, b: string, decimals: number): number {
  const difference = toMinorUnits(a, decimals) - toMinorUnits(b, decimals)
  return difference === 0n ? 0 : difference < 0n ? -1 : 1
}

export function isNegative(amount: string): boolean {
  return amount.trim().startsWith('-')
}

/**
 * A chart needs numbers on its axis: only the plotted point is converted, never a figure that is
 * shown as text or sent back. Precision past 2^53 minor units only blurs the line, not a balance.
 */
export function chartValue(amount: string, decimals: number): number {
  return Number(toMinorUnits(amount, decimals)) / 10 ** decimals
}
