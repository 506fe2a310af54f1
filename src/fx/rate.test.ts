import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AppError } from '../errors.js'
import { convertAmount, parseRate } from './rate.js'

function reasonOf(text: string): unknown {
  try {
    parseRate(text)
  } catch (error) {
    if (error instanceof AppError) return { code: error.code, ...error.extensions }
    throw error
  }
  return null
}

describe('parseRate', () => {
  it('keeps the text and reads it as units / 10^scale', () => {
    expect(parseRate('151.237')).toEqual({ text: '151.237', units: 151237n, scale: 3 })
    expect(parseRate('0.000000123456789012345678')).toEqual({
      text: '0.000000123456789012345678',
      units: 123456789012345678n,
      scale: 24,
    })
    expect(parseRate('1.50')).toEqual({ text: '1.50', units: 150n, scale: 2 })
    expect(parseRate('150')).toEqual({ text: '150', units: 150n, scale: 0 })
  })

  it('refuses anything that is not a plain positive decimal', () => {
    for (const text of ['', '-1', '+1', '1e3', '1.', '.5', '01.5', ' 1', '1,5', '0x10', 'NaN', 'Infinity']) {
      expect(reasonOf(text), text).toEqual({ code: 'invalid_fx_rate', reason: 'invalid_format' })
    }
    for (const text of ['0', '0.0', '0.000']) {
      expect(reasonOf(text), text).toEqual({ code: 'invalid_fx_rate', reason: 'not_positive' })
    }
  })

  it('takes at most 30 significant digits and 40 decimals', () => {
    expect(reasonOf('1.23456789012345678901234567890')).toBeNull()
    expect(reasonOf('1.234567890123456789012345678901')).toEqual({
      code: 'invalid_fx_rate',
      reason: 'too_precise',
    })
    expect(reasonOf(`0.${'0'.repeat(39)}1`)).toBeNull()
    expect(reasonOf(`0.${'0'.repeat(40)}1`)).toEqual({ code: 'invalid_fx_rate', reason: 'too_precise' })
  })
})

describe('convertAmount', () => {
  it('converts 10.00 USD at 151.237 to 1512 JPY, rounding down', () => {
    expect(convertAmount(1000n, parseRate('151.237'), 2, 0)).toBe(1512n)
  })

  it('is exact where a float is not', () => {
    // 0.1 * 3 in floats is 0.30000000000000004; 1 minor unit at 0.3 must stay 0, 10 units 3.
    expect(convertAmount(1n, parseRate('0.3'), 0, 0)).toBe(0n)
    expect(convertAmount(10n, parseRate('0.3'), 0, 0)).toBe(3n)
    // 1 USDT (6 decimals) at 1.000001 to 18 decimals: every digit kept.
    expect(convertAmount(1_000_000n, parseRate('1.000001'), 6, 18)).toBe(1_000_001_000_000_000_000n)
    expect(convertAmount(10n ** 30n, parseRate('0.000000123456789012345678'), 2, 2)).toBe(
      123456789012345678000000n,
    )
  })

  it('is the floor of amount × rate × 10^(to − from) for any amount, rate and decimals', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 30n }),
        fc.bigInt({ min: 1n, max: 10n ** 20n }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 18 }),
        fc.integer({ min: 0, max: 18 }),
        (amount, units, scale, fromDecimals, toDecimals) => {
          const text = units.toString().padStart(scale + 1, '0')
          const rate = parseRate(scale === 0 ? text : `${text.slice(0, -scale)}.${text.slice(-scale)}`)
          const credited = convertAmount(amount, rate, fromDecimals, toDecimals)
          // credited ≤ exact value < credited + 1, compared with every factor moved to integers
          const exact = amount * units * 10n ** BigInt(toDecimals)
          const unit = 10n ** BigInt(scale + fromDecimals)
          expect(credited * unit <= exact).toBe(true)
          expect(exact < (credited + 1n) * unit).toBe(true)
        },
      ),
    )
  })
})
