import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FREE_TEXT_PATTERN, SINGLE_LINE_PATTERN } from './input.schemas.js'
import {
  forbiddenCharacterIn,
  jsonLimitIssues,
  jsonNestsDeeperThan,
  validationProblem,
} from './input-checks.js'

/** Nesting depth of a parsed JSON value, counted the way the text scanner counts brackets. */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0
  const children = Array.isArray(value) ? value : Object.values(value)
  return 1 + Math.max(0, ...children.map(depthOf))
}

describe('jsonNestsDeeperThan', () => {
  it('agrees with the depth of the parsed value, whatever the strings hold', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 10 }), (value, max) => {
        const text = JSON.stringify(value)
        expect(jsonNestsDeeperThan(text, max)).toBe(depthOf(value) > max)
      }),
      { numRuns: 500 },
    )
  })

  it('reads brackets inside strings, escaped quotes included, as text', () => {
    expect(jsonNestsDeeperThan(JSON.stringify({ a: '[[[[[[' }), 1)).toBe(false)
    expect(jsonNestsDeeperThan(JSON.stringify({ a: 'x\\"[[[[' }), 1)).toBe(false)
    expect(jsonNestsDeeperThan(JSON.stringify(['\\', [[]]]), 2)).toBe(true)
  })

  it('stops at the bound of a huge body without recursing', () => {
    expect(jsonNestsDeeperThan('['.repeat(1_000_000), 32)).toBe(true)
  })
})

describe('forbiddenCharacterIn', () => {
  it('finds a control character in any string or key, and allows tab and line breaks', () => {
    expect(forbiddenCharacterIn({ a: [{ b: 'x\u0000' }] }, 'body')).toMatchObject({
      instancePath: '/a/0/b',
      params: { codePoint: 'U+0000' },
    })
    expect(forbiddenCharacterIn({ a: { 'k\u001f': 1 } }, 'body')).toMatchObject({
      instancePath: '/a/k\u001f',
    })
    expect(forbiddenCharacterIn({ a: 'lone \ud800' }, 'body')).toMatchObject({
      params: { codePoint: 'U+D800' },
    })
    expect(forbiddenCharacterIn({ a: 'tab\tline\nreturn\r 🎉 ü' }, 'body')).toBeNull()
    expect(forbiddenCharacterIn(undefined, 'body')).toBeNull()
  })

  it('agrees with the free-text pattern on every string', () => {
    const freeText = new RegExp(FREE_TEXT_PATTERN, 'u')
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const wellFormed = !/\p{Cs}/u.test(text)
        expect(forbiddenCharacterIn(text, 'body') === null).toBe(freeText.test(text) && wellFormed)
      }),
      { numRuns: 500 },
    )
  })

  it('the one-line pattern refuses what free text refuses, and tab and line breaks too', () => {
    const singleLine = new RegExp(SINGLE_LINE_PATTERN)
    expect(singleLine.test('a\tb')).toBe(false)
    expect(singleLine.test('a\nb')).toBe(false)
    expect(singleLine.test('plain 🎉')).toBe(true)
  })
})

describe('jsonLimitIssues', () => {
  const limits = { maxBytes: 100, maxDepth: 3, maxKeys: 4, maxKeyLength: 5, maxStringLength: 10 }

  it('checks bytes, depth, keys in all, key length and string length', () => {
    expect(jsonLimitIssues({ a: 1, b: { c: [1, 'ok'] } }, limits, '/m')).toEqual([])
    const keywords = (value: unknown) => jsonLimitIssues(value, limits, '/m').map((issue) => issue.keyword)
    expect(
      keywords({ a: 'x'.repeat(9), b: 'y'.repeat(9), c: 'z'.repeat(9), d: 'w'.repeat(9), e: 1 }),
    ).toContain('maxKeys')
    expect(keywords({ a: { b: { c: { d: 1 } } } })).toEqual(['maxDepth'])
    expect(keywords({ a: { b: 1, c: 2, d: 3, e: 4 } })).toEqual(['maxKeys'])
    expect(keywords({ longkey: 1 })).toEqual(['maxKeyLength'])
    expect(keywords({ a: 'x'.repeat(11) })).toEqual(['maxLength'])
    expect(keywords({ a: Array(5).fill('é'.repeat(10)) })).toEqual(['maxBytes'])
  })
})

describe('validationProblem', () => {
  it('is 422 when every failure is past a bound or a forbidden character, else 400', () => {
    const maxLength = { keyword: 'maxLength', params: { limit: 3 } }
    const character = { keyword: 'pattern', params: { pattern: SINGLE_LINE_PATTERN } }
    const format = { keyword: 'pattern', params: { pattern: '^[0-9]+$' } }
    const type = { keyword: 'type', params: { type: 'string' } }
    expect(validationProblem([maxLength], 'x').code).toBe('limit_exceeded')
    expect(validationProblem([maxLength, character], 'x').code).toBe('forbidden_character')
    expect(validationProblem([format], 'x').code).toBe('invalid_request')
    expect(validationProblem([maxLength, type], 'x').code).toBe('invalid_request')
    expect(validationProblem([{ keyword: 'minLength' }], 'x').status).toBe(400)
  })
})
