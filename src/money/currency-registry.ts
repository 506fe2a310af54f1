/**
 * The in-memory registry of every currency a Money can be in: the ISO 4217 table, the built-in
 * PTS, and the custom currencies that `src/currencies/` (the /api/v1/currencies module, which
 * stores them in the database) defines into it. Pure: no database, no HTTP.
 */
import cc from 'currency-codes'
import { InvalidCurrencyCode, InvalidCurrencyDefinition, UnknownCurrency } from './money.errors.js'

export interface Currency {
  readonly code: string
  readonly decimals: number
  readonly name: string
  readonly kind: 'iso4217' | 'custom'
}

export interface CurrencyDefinition {
  code: string
  decimals: number
  name: string
}

export const MAX_CURRENCY_DECIMALS = 18

// Checked before upper-casing: toUpperCase() maps some non-ASCII letters onto ASCII ('ı' → 'I', 'ß' → 'SS',
// 'ſ' → 'S'), which would let look-alike input pass as a real code.
const CURRENCY_CODE_PATTERN = /^[A-Za-z][A-Za-z0-9]{2,11}$/

/** Upper-cases a code; throws InvalidCurrencyCode unless it is 3-12 ASCII letters/digits, letter first. */
export function normaliseCurrencyCode(code: string): string {
  if (!CURRENCY_CODE_PATTERN.test(code)) {
    throw new InvalidCurrencyCode(
      'A currency code must be 3 to 12 letters or digits (A-Z, 0-9), starting with a letter, with no spaces',
      { currency: code, reason: 'malformed' },
    )
  }
  return code.toUpperCase()
}

const BUILT_IN_CUSTOM: readonly CurrencyDefinition[] = [{ code: 'PTS', decimals: 0, name: 'Loyalty points' }]

export class CurrencyRegistry {
  readonly #currencies = new Map<string, Currency>()

  constructor() {
    // Funds and metals (XAU, XDR, ...) have digits 0 in the ISO table; kept as-is so every ISO code is usable.
    for (const record of cc.data) {
      this.#currencies.set(
        record.code,
        Object.freeze({ code: record.code, decimals: record.digits, name: record.currency, kind: 'iso4217' }),
      )
    }
    for (const definition of BUILT_IN_CUSTOM) this.define(definition)
  }

  get(code: string): Currency | undefined {
    if (!CURRENCY_CODE_PATTERN.test(code)) return undefined
    return this.#currencies.get(code.toUpperCase())
  }

  require(code: string): Currency {
    const currency = this.get(code)
    if (!currency) throw new UnknownCurrency({ currency: code })
    return currency
  }

  list(): Currency[] {
    return [...this.#currencies.values()].sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
  }

  /**
   * Adds or replaces an operator-defined asset. Replacing a custom asset with different decimals is allowed
   * here on purpose: whether that is safe depends on existing balances, which only the caller can know.
   */
  define(definition: CurrencyDefinition): Currency {
    const code = normaliseCurrencyCode(definition.code)
    if (this.#currencies.get(code)?.kind === 'iso4217') {
      throw new InvalidCurrencyCode(`${code} is an ISO 4217 currency and cannot be redefined`, {
        currency: code,
        reason: 'iso4217_reserved',
      })
    }
    const { decimals, name } = definition
    if (!Number.isInteger(decimals) || decimals < 0 || decimals > MAX_CURRENCY_DECIMALS) {
      throw new InvalidCurrencyDefinition(
        `${code} decimals must be a whole number from 0 to ${MAX_CURRENCY_DECIMALS}`,
        { currency: code, field: 'decimals' },
      )
    }
    if (typeof name !== 'string' || name.trim() === '') {
      throw new InvalidCurrencyDefinition(`${code} needs a non-empty name`, { currency: code, field: 'name' })
    }
    const currency: Currency = Object.freeze({ code, decimals, name, kind: 'custom' })
    this.#currencies.set(code, currency)
    return currency
  }
}

/** A fresh registry per call, so tests and tenants never share operator-defined assets. */
export function defaultCurrencyRegistry(): CurrencyRegistry {
  return new CurrencyRegistry()
}
