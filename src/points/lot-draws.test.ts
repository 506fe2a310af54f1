import { describe, expect, it } from 'vitest'
import { MAX_POINTS, parsePoints, planDraws } from './lot-draws.js'

const day = (n: number) => new Date(Date.UTC(2030, 0, n))

describe('planDraws', () => {
  const lots = [
    { id: 'c', remaining: 5n, expiresAt: null },
    { id: 'b', remaining: 5n, expiresAt: day(20) },
    { id: 'a', remaining: 5n, expiresAt: day(10) },
    { id: 'd', remaining: 5n, expiresAt: null },
  ]

  it('draws the earliest expiry first and lots without expiry last, oldest first', () => {
    expect(planDraws(lots, 17n)).toEqual([
      { lotId: 'a', points: 5n },
      { lotId: 'b', points: 5n },
      { lotId: 'c', points: 5n },
      { lotId: 'd', points: 2n },
    ])
  })

  it('refuses when the lots hold too few', () => {
    expect(planDraws(lots, 21n)).toBeNull()
    expect(planDraws([], 1n)).toBeNull()
  })
})

describe('parsePoints', () => {
  it('takes positive whole numbers as decimal strings', () => {
    expect(parsePoints('100')).toBe(100n)
    expect(parsePoints(MAX_POINTS.toString())).toBe(MAX_POINTS)
    expect(parsePoints('-5', { signed: true })).toBe(-5n)
  })

  it.each(['0', '-1', '1.5', '1e3', '', ' 1', '01', (MAX_POINTS + 1n).toString(), 'abc'])(
    'refuses %j',
    (text) => {
      expect(parsePoints(text)).toHaveProperty('refused')
    },
  )
})
