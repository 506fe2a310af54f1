import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  checkAmountInput,
  compareAmounts,
  formatAmount,
  fromMinorUnits,
  toMinorUnits,
} from '../../packages/console/src/money.js'

/** The console's money module: what a form lets through, and how figures are shown, never via floats. */
describe('console amounts', () => {
  it('accepts an amount within the currency decimals, as typed', () => {
    expect(checkAmountInput('100.00', 2, 'USD')).toEqual({ ok: true, amount: '100.00' })
    expect(checkAmountInput(' 25.5 ', 2, 'USD')).toEqual({ ok: true, amount: '25.5' })
    expect(checkAmountInput('1500', 0, 'JPY')).toEqual({ ok: true, amount: '1500' })
    expect(checkAmountInput('0.000001', 6, 'USDT')).toEqual({ ok: true, amount: '0.000001' })
  })

  it('refuses more decimals than the currency has, saying how many it allows', () => {
    expect(checkAmountInput('1.234', 2, 'USD')).toEqual({
      ok: false,
      message: 'USD allows at most 2 decimals',
    })
    expect(checkAmountInput('1.5', 0, 'JPY')).toEqual({
      ok: false,
      message: 'JPY has no decimals: enter a whole amount',
    })
    expect(checkAmountInput('0.55', 1, 'XYZ')).toEqual({ ok: false, message: 'XYZ allows at most 1 decimal' })
  })

  it('refuses what is not a positive decimal', () => {
    for (const typed of ['', '  ', '-1', '1e3', '1,50', '.5', '5.', '0x10', 'ten', '0', '0.00', 'NaN']) {
      expect(checkAmountInput(typed, 2, 'USD').ok, typed).toBe(false)
    }
  })

  it('pads figures to the currency decimals without rounding, whatever their size', () => {
    expect(formatAmount('100', 2)).toBe('100.00')
    expect(formatAmount('74.5', 2)).toBe('74.50')
    expect(formatAmount('-3.2', 2)).toBe('-3.20')
    expect(formatAmount('0', 0)).toBe('0')
    // Past 2^53: a float would have lost the last cents.
    expect(formatAmount('90071992547409931.5', 2)).toBe('90071992547409931.50')
    // More digits than the currency has is shown as sent rather than rounded.
    expect(formatAmount('1.239', 2)).toBe('1.239')
  })

  it('round-trips minor units and compares exactly (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
        fc.integer({ min: 0, max: 18 }),
        (minor, decimals) => {
          const text = fromMinorUnits(minor, decimals)
          expect(toMinorUnits(text, decimals)).toBe(minor)
          expect(formatAmount(text, decimals)).toBe(text)
          expect(compareAmounts(text, fromMinorUnits(minor + 1n, decimals), decimals)).toBe(-1)
        },
      ),
    )
  })
})
