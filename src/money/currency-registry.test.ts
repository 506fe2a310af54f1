import cc from 'currency-codes'
import { describe, expect, it } from 'vitest'
import { CurrencyRegistry, defaultCurrencyRegistry, normaliseCurrencyCode } from './currency-registry.js'
import { InvalidCurrencyCode, InvalidCurrencyDefinition, UnknownCurrency } from './money.errors.js'

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

describe('ISO 4217 table', () => {
  it('holds every code from currency-codes plus PTS', () => {
    const registry = defaultCurrencyRegistry()
    const codes = registry.list().map((c) => c.code)
    expect(codes).toHaveLength(cc.data.length + 1)
    for (const record of cc.data) {
      expect(registry.get(record.code)).toEqual({
        code: record.code,
        decimals: record.digits,
        name: record.currency,
        kind: 'iso4217',
      })
    }
  })

  it.each([
    ['USD', 2],
    ['EUR', 2],
    ['JPY', 0],
    ['KRW', 0],
    ['BHD', 3],
    ['KWD', 3],
    ['CLF', 4],
    ['XAU', 0],
    ['XDR', 0],
  ])('%s has %i decimals', (code, decimals) => {
    expect(defaultCurrencyRegistry().require(code).decimals).toBe(decimals)
  })

  it('ships PTS as a 0-decimal custom asset', () => {
    expect(defaultCurrencyRegistry().get('PTS')).toEqual({
      code: 'PTS',
      decimals: 0,
      name: 'Loyalty points',
      kind: 'custom',
    })
  })
})

describe('look-up', () => {
  const registry = defaultCurrencyRegistry()

  it.each(['usd', 'Usd', 'uSD', 'USD'])('finds %s as USD', (code) => {
    expect(registry.get(code)?.code).toBe('USD')
    expect(registry.require(code).code).toBe('USD')
  })

  it.each(['', ' USD', 'USD ', 'U SD', 'US', 'ZZZ', 'ıls', 'US$', 'usd\n'])('does not find %j', (code) => {
    expect(registry.get(code)).toBeUndefined()
  })

  it('require throws UnknownCurrency with the code in details', () => {
    const error = thrown(() => registry.require('ZZZ'))
    expect(error).toBeInstanceOf(UnknownCurrency)
    expect(error).toBeInstanceOf(Error)
    expect(error).toMatchObject({
      code: 'unknown_currency',
      name: 'UnknownCurrency',
      details: { currency: 'ZZZ' },
    })
  })

  it('require also throws UnknownCurrency for a malformed code', () => {
    expect(() => registry.require(' usd')).toThrow(UnknownCurrency)
  })

  it('lists currencies sorted by code', () => {
    const codes = registry.list().map((c) => c.code)
    expect(codes).toEqual([...codes].sort())
    expect(new Set(codes).size).toBe(codes.length)
  })

  it('hands out frozen currencies and a list the caller may change', () => {
    const usd = registry.require('USD')
    expect(Object.isFrozen(usd)).toBe(true)
    const list = registry.list()
    list.length = 0
    expect(registry.list().length).toBeGreaterThan(0)
  })
})

describe('define', () => {
  it('adds USDT with 6 decimals, found case-insensitively', () => {
    const registry = defaultCurrencyRegistry()
    const usdt = registry.define({ code: 'usdt', decimals: 6, name: 'Tether USD' })
    expect(usdt).toEqual({ code: 'USDT', decimals: 6, name: 'Tether USD', kind: 'custom' })
    expect(registry.get('usdt')).toBe(usdt)
    expect(registry.list().map((c) => c.code)).toContain('USDT')
  })

  it.each([
    ['ABC', 0],
    ['A1B2C3D4E5F6', 18],
    ['GOLD1', 4],
  ])('accepts %s with %i decimals', (code, decimals) => {
    expect(defaultCurrencyRegistry().define({ code, decimals, name: 'Asset' }).code).toBe(code)
  })

  it.each([
    ['too short', 'AB'],
    ['too long', 'ABCDEFGHIJKLM'],
    ['starting with a digit', '1ABC'],
    ['with punctuation', 'US-D'],
    ['with an underscore', 'US_D'],
    ['with a leading space', ' ABC'],
    ['with a trailing space', 'ABC '],
    ['with an inner space', 'AB C'],
    ['empty', ''],
    ['with a dotless i that upper-cases to I', 'ıls'],
    ['with ß that upper-cases to SS', 'straße'],
    ['with full-width letters', 'ＡＢＣ'],
  ])('refuses a code %s', (_label, code) => {
    const error = thrown(() => defaultCurrencyRegistry().define({ code, decimals: 2, name: 'Asset' }))
    expect(error).toBeInstanceOf(InvalidCurrencyCode)
    expect(error).toMatchObject({
      code: 'invalid_currency_code',
      details: { currency: code, reason: 'malformed' },
    })
  })

  it.each([-1, 19, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses %d decimals', (decimals) => {
    const registry = defaultCurrencyRegistry()
    const error = thrown(() => registry.define({ code: 'ABC', decimals, name: 'Asset' }))
    expect(error).toBeInstanceOf(InvalidCurrencyDefinition)
    expect(error).toMatchObject({ details: { currency: 'ABC', field: 'decimals' } })
    expect(registry.get('ABC')).toBeUndefined()
  })

  it.each(['', '   '])('refuses the name %j', (name) => {
    const error = thrown(() => defaultCurrencyRegistry().define({ code: 'ABC', decimals: 2, name }))
    expect(error).toBeInstanceOf(InvalidCurrencyDefinition)
    expect(error).toMatchObject({
      code: 'invalid_currency_definition',
      details: { currency: 'ABC', field: 'name' },
    })
  })

  it.each(['USD', 'usd', 'XAU'])('refuses to redefine ISO code %s', (code) => {
    const registry = defaultCurrencyRegistry()
    const error = thrown(() => registry.define({ code, decimals: 6, name: 'Fake' }))
    expect(error).toBeInstanceOf(InvalidCurrencyCode)
    expect(error).toMatchObject({
      code: 'invalid_currency_code',
      details: { currency: code.toUpperCase(), reason: 'iso4217_reserved' },
    })
    expect(registry.require(code).kind).toBe('iso4217')
  })

  it('lets a custom asset be redefined with different decimals; policy is the caller’s', () => {
    const registry = defaultCurrencyRegistry()
    registry.define({ code: 'USDT', decimals: 6, name: 'Tether USD' })
    registry.define({ code: 'USDT', decimals: 2, name: 'Tether USD' })
    expect(registry.require('USDT').decimals).toBe(2)
    registry.define({ code: 'PTS', decimals: 2, name: 'Points' })
    expect(registry.require('PTS')).toMatchObject({ decimals: 2, kind: 'custom' })
  })

  it('keeps each registry instance separate', () => {
    const a = defaultCurrencyRegistry()
    const b = new CurrencyRegistry()
    a.define({ code: 'USDT', decimals: 6, name: 'Tether USD' })
    expect(a.get('USDT')).toBeDefined()
    expect(b.get('USDT')).toBeUndefined()
    expect(defaultCurrencyRegistry().get('USDT')).toBeUndefined()
  })
})

describe('normaliseCurrencyCode', () => {
  it.each([
    ['usd', 'USD'],
    ['Usdt', 'USDT'],
    ['abc123', 'ABC123'],
  ])('turns %s into %s', (input, expected) => {
    expect(normaliseCurrencyCode(input)).toBe(expected)
  })

  it.each([' usd', 'usd ', 'u sd', '\tUSD', 'US', '1US', 'U.S', 'ıls'])('refuses %j', (input) => {
    expect(() => normaliseCurrencyCode(input)).toThrow(InvalidCurrencyCode)
  })
})
