import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Currency, defaultCurrencyRegistry } from './currency-registry.js'
import {
  CurrencyMismatch,
  InvalidCurrencyCode,
  MoneyFormatError,
  type MoneyFormatReason,
  UnknownCurrency,
} from './money.errors.js'
import {
  addMoney,
  formatAmount,
  formatMoney,
  MAX_INTEGER_DIGITS,
  money,
  parseAmount,
  parseMoney,
  subtractMoney,
} from './money.js'

const registry = defaultCurrencyRegistry()
const USDT = registry.define({ code: 'USDT', decimals: 6, name: 'Tether USD' })
const USD = registry.require('USD')
const JPY = registry.require('JPY')
const BHD = registry.require('BHD')
const CLF = registry.require('CLF')
const XAU = registry.require('XAU')
const PTS = registry.require('PTS')

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

function expectRejected(
  input: string,
  currency: Currency,
  reason: MoneyFormatReason,
  opts?: Parameters<typeof parseAmount>[2],
): MoneyFormatError {
  const error = thrown(() => parseAmount(input, currency, opts))
  expect(error).toBeInstanceOf(MoneyFormatError)
  const formatError = error as MoneyFormatError
  expect(formatError).toMatchObject({
    name: 'MoneyFormatError',
    code: 'invalid_amount',
    reason,
    details: { reason, currency: currency.code, decimals: currency.decimals },
  })
  return formatError
}

describe('parseAmount accepts', () => {
  it.each<[string, Currency, bigint]>([
    ['10', USD, 1000n],
    ['10.5', USD, 1050n],
    ['10.50', USD, 1050n],
    ['0.01', USD, 1n],
    ['0.1', USD, 10n],
    ['1234567.89', USD, 123456789n],
    ['1512', JPY, 1512n],
    ['1', PTS, 1n],
    ['7', XAU, 7n],
    ['1.234', BHD, 1234n],
    ['0.001', BHD, 1n],
    ['1.2345', CLF, 12345n],
    ['1.000001', USDT, 1000001n],
    ['0.5', USDT, 500000n],
    ['9'.repeat(MAX_INTEGER_DIGITS), USD, BigInt(`${'9'.repeat(MAX_INTEGER_DIGITS)}00`)],
  ])('%s %s as %s minor units', (input, currency, minor) => {
    expect(parseAmount(input, currency)).toBe(minor)
  })

  it('negative amounts with allowNegative', () => {
    expect(parseAmount('-3.20', USD, { allowNegative: true })).toBe(-320n)
    expect(parseAmount('-0.01', USD, { allowNegative: true })).toBe(-1n)
    expect(parseAmount('-15', JPY, { allowNegative: true })).toBe(-15n)
  })

  it('zero with allowZero', () => {
    expect(parseAmount('0', USD, { allowZero: true })).toBe(0n)
    expect(parseAmount('0.00', USD, { allowZero: true })).toBe(0n)
    expect(parseAmount('0', JPY, { allowZero: true })).toBe(0n)
  })
})

describe('parseAmount rejects', () => {
  it('an empty string', () => {
    expectRejected('', USD, 'empty')
  })

  it.each([' 10', '10 ', '1 0', '10. 5', '\t10', '10\n', '10\u00a0', '1\u200a0', '- 5'])(
    'whitespace anywhere: %j',
    (input) => {
      expectRejected(input, USD, 'whitespace', { allowNegative: true })
    },
  )

  it.each(['1e3', '1E3', '1.5e2', '1e-2', 'e5'])('exponent notation: %s', (input) => {
    expect(expectRejected(input, USD, 'invalid_format').message).toMatch(/exponent/)
  })

  it('a leading +', () => {
    expect(expectRejected('+10', USD, 'invalid_format').message).toMatch(/'\+'/)
  })

  it.each(['10.', '.5', '.', '-.5', '-10.'])('a decimal point without digits on both sides: %s', (input) => {
    expect(expectRejected(input, USD, 'invalid_format', { allowNegative: true }).message).toMatch(
      /digits on both sides/,
    )
  })

  it.each([
    'NaN',
    'Infinity',
    '-Infinity',
    '0x10',
    '0b101',
    '0o7',
    '1_000',
    '1,000',
    '1,50',
    '10.5.0',
    '--5',
    '5-',
    '-',
    '10$',
    '$10',
    'USD10',
    '١٢',
    '１０',
    'abc',
    '1/2',
  ])('non-decimal text: %j', (input) => {
    expectRejected(input, USD, 'invalid_format', { allowNegative: true, allowZero: true })
  })

  it.each(['007', '00', '01.50', '00.5', '-01'])('leading zeros: %s', (input) => {
    expectRejected(input, USD, 'leading_zero', { allowNegative: true, allowZero: true })
  })

  it('more decimals than USD has, naming the currency and its decimals', () => {
    expect(expectRejected('10.123', USD, 'too_precise').message).toBe('USD allows at most 2 decimals')
  })

  it.each<[string, Currency, string]>([
    ['10.0', JPY, 'JPY allows no decimals'],
    ['10.5', JPY, 'JPY allows no decimals'],
    ['1.0', PTS, 'PTS allows no decimals'],
    ['1.0', XAU, 'XAU allows no decimals'],
    ['10.500', USD, 'USD allows at most 2 decimals'],
    ['1.2340', BHD, 'BHD allows at most 3 decimals'],
    ['1.23450', CLF, 'CLF allows at most 4 decimals'],
    ['1.0000001', USDT, 'USDT allows at most 6 decimals'],
  ])('extra fraction digits, even zeros: %s %s', (input, currency, message) => {
    expect(expectRejected(input, currency, 'too_precise').message).toBe(message)
  })

  it('more than 30 integer digits', () => {
    expectRejected(`1${'0'.repeat(MAX_INTEGER_DIGITS)}`, USD, 'too_large')
    expectRejected(`-1${'0'.repeat(MAX_INTEGER_DIGITS)}.00`, USD, 'too_large', { allowNegative: true })
    expectRejected('9'.repeat(10_000), JPY, 'too_large')
  })

  it.each(['0', '0.00', '0.0'])('zero without allowZero: %s', (input) => {
    expect(expectRejected(input, USD, 'not_positive').message).toBe('USD amount must be greater than zero')
  })

  it('zero with allowNegative but not allowZero', () => {
    expect(expectRejected('0', USD, 'not_positive', { allowNegative: true }).message).toMatch(/not be zero/)
  })

  it.each(['-3.20', '-1', '-0.01'])('a negative amount without allowNegative: %s', (input) => {
    expectRejected(input, USD, 'not_positive')
    expect(expectRejected(input, USD, 'not_positive', { allowZero: true }).message).toMatch(/not be negative/)
  })

  it('negative zero, which has no canonical form', () => {
    expectRejected('-0', USD, 'not_positive', { allowZero: true })
    expectRejected('-0', USD, 'invalid_format', { allowNegative: true, allowZero: true })
    expectRejected('-0.00', USD, 'invalid_format', { allowNegative: true, allowZero: true })
  })

  it('keeps the raw input out of the error details', () => {
    const error = expectRejected('<script>', USD, 'invalid_format')
    expect(JSON.stringify(error.details)).not.toContain('script')
  })
})

describe('formatAmount', () => {
  it.each<[bigint, Currency, string]>([
    [1050n, USD, '10.50'],
    [1n, USD, '0.01'],
    [0n, USD, '0.00'],
    [-5n, USD, '-0.05'],
    [-320n, USD, '-3.20'],
    [1512n, JPY, '1512'],
    [-1512n, JPY, '-1512'],
    [0n, JPY, '0'],
    [1n, BHD, '0.001'],
    [12345n, CLF, '1.2345'],
    [1n, USDT, '0.000001'],
    [1000001n, USDT, '1.000001'],
    [10n ** 40n, USD, `1${'0'.repeat(38)}.00`],
  ])('%s minor %s as %s', (minor, currency, expected) => {
    expect(formatAmount(minor, currency)).toBe(expected)
  })
})

describe('Money', () => {
  it('money() normalises the code and freezes the value', () => {
    const m = money(1050n, 'usd')
    expect(m).toEqual({ minor: 1050n, currency: 'USD' })
    expect(Object.isFrozen(m)).toBe(true)
  })

  it('money() refuses a malformed code', () => {
    expect(() => money(1n, ' usd')).toThrow(InvalidCurrencyCode)
  })

  it('parseMoney looks the currency up case-insensitively', () => {
    expect(parseMoney('10.50', 'usd', registry)).toEqual({ minor: 1050n, currency: 'USD' })
    expect(parseMoney('1.5', 'usdt', registry)).toEqual({ minor: 1500000n, currency: 'USDT' })
  })

  it('parseMoney passes the options through', () => {
    expect(parseMoney('-1', 'JPY', registry, { allowNegative: true })).toEqual({
      minor: -1n,
      currency: 'JPY',
    })
    expect(() => parseMoney('-1', 'JPY', registry)).toThrow(MoneyFormatError)
  })

  it('parseMoney refuses an unknown currency', () => {
    expect(() => parseMoney('1', 'ZZZ', registry)).toThrow(UnknownCurrency)
  })

  it('formatMoney writes the amount in the currency’s scale', () => {
    expect(formatMoney(money(1050n, 'USD'), registry)).toBe('10.50')
    expect(formatMoney(money(7n, 'PTS'), registry)).toBe('7')
    expect(() => formatMoney(money(1n, 'ZZZ'), registry)).toThrow(UnknownCurrency)
  })

  it('adds and subtracts in one currency', () => {
    const a = money(1050n, 'USD')
    const b = money(75n, 'USD')
    expect(addMoney(a, b)).toEqual({ minor: 1125n, currency: 'USD' })
    expect(subtractMoney(b, a)).toEqual({ minor: -975n, currency: 'USD' })
  })

  it('refuses to combine currencies', () => {
    const error = thrown(() => addMoney(money(1n, 'USD'), money(1n, 'EUR')))
    expect(error).toBeInstanceOf(CurrencyMismatch)
    expect(error).toMatchObject({ code: 'currency_mismatch', details: { expected: 'USD', actual: 'EUR' } })
    expect(() => subtractMoney(money(1n, 'JPY'), money(1n, 'PTS'))).toThrow(CurrencyMismatch)
  })
})

describe('properties', () => {
  const currencies = registry.list()
  const anyCurrency = fc.constantFrom(...currencies)
  const digits = (minLength: number, maxLength: number) =>
    fc.string({ unit: fc.constantFrom(...'0123456789'), minLength, maxLength })

  const amountIn = (currency: Currency) => {
    const limit = 10n ** BigInt(MAX_INTEGER_DIGITS + currency.decimals) - 1n
    return fc.bigInt({ min: -limit, max: limit })
  }

  it('formatAmount then parseAmount gives back the same minor units', () => {
    fc.assert(
      fc.property(
        anyCurrency.chain((c) => fc.tuple(fc.constant(c), amountIn(c))),
        ([currency, minor]) => {
          const text = formatAmount(minor, currency)
          expect(parseAmount(text, currency, { allowNegative: true, allowZero: true })).toBe(minor)
        },
      ),
      { numRuns: 2000, examples: [[[USD, 0n]], [[USD, -1n]], [[JPY, -(10n ** 30n - 1n)]]] },
    )
  })

  // Any decimal string within the currency's scale: optional sign, no leading zeros, 0..decimals fraction digits
  const validAmountText = anyCurrency.chain((currency) =>
    fc
      .record({
        currency: fc.constant(currency),
        negative: fc.boolean(),
        integer: fc.oneof(
          fc.constant('0'),
          fc.tuple(fc.constantFrom(...'123456789'), digits(0, MAX_INTEGER_DIGITS - 1)).map(([a, b]) => a + b),
        ),
        fraction: digits(0, currency.decimals),
      })
      .filter(({ negative, integer, fraction }) => !(negative && /^0*$/.test(integer + fraction))),
  )

  it('parseAmount then formatAmount gives the canonical form of any valid string', () => {
    fc.assert(
      fc.property(validAmountText, ({ currency, negative, integer, fraction }) => {
        const text = `${negative ? '-' : ''}${integer}${fraction ? `.${fraction}` : ''}`
        const canonical =
          `${negative ? '-' : ''}${integer}` +
          (currency.decimals > 0 ? `.${fraction.padEnd(currency.decimals, '0')}` : '')
        const minor = parseAmount(text, currency, { allowNegative: true, allowZero: true })
        expect(formatAmount(minor, currency)).toBe(canonical)
      }),
      { numRuns: 1000 },
    )
  })

  it('one fraction digit beyond the scale is always too_precise', () => {
    fc.assert(
      fc.property(
        anyCurrency.chain((c) => fc.tuple(fc.constant(c), amountIn(c), fc.constantFrom(...'0123456789'))),
        ([currency, minor, extra]) => {
          const text = formatAmount(minor, currency)
          const tooPrecise = currency.decimals === 0 ? `${text}.${extra}` : text + extra
          expectRejected(tooPrecise, currency, 'too_precise', { allowNegative: true, allowZero: true })
        },
      ),
      { numRuns: 500 },
    )
  })

  it('any other string either parses to its canonical form or fails with MoneyFormatError', () => {
    const noise = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'0123456789.-+eE ,_x'), maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 20 }),
    )
    fc.assert(
      fc.property(anyCurrency, noise, (currency, text) => {
        let minor: bigint
        try {
          minor = parseAmount(text, currency, { allowNegative: true, allowZero: true })
        } catch (error) {
          expect(error).toBeInstanceOf(MoneyFormatError)
          return
        }
        expect(formatAmount(minor, currency).startsWith(text)).toBe(true)
      }),
      { numRuns: 1000 },
    )
  })

  it('subtracting what was added gives back the start', () => {
    fc.assert(
      fc.property(fc.bigInt(), fc.bigInt(), (a, b) => {
        const start = money(a, 'USD')
        expect(subtractMoney(addMoney(start, money(b, 'USD')), money(b, 'USD'))).toEqual(start)
      }),
      { numRuns: 200 },
    )
  })
})
