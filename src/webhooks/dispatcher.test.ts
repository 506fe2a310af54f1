import { describe, expect, it } from 'vitest'
import { lanesOf, retryDelayMs } from './dispatcher.js'

const d = (id: string, ...keys: string[]) => ({ id, order_keys: keys })

describe('lanesOf', () => {
  it('keeps deliveries sharing a key, directly or through others, in one lane in order', () => {
    const lanes = lanesOf([d('1', 'a'), d('2', 'b'), d('3', 'c'), d('4', 'a', 'b'), d('5', 'c'), d('6', 'd')])
    expect(lanes.map((lane) => lane.map((x) => x.id))).toEqual([['1', '2', '4'], ['3', '5'], ['6']])
  })

  it('joins lanes a later delivery bridges', () => {
    const lanes = lanesOf([d('1', 'a'), d('2', 'b'), d('3', 'b', 'a'), d('4', 'c', 'a')])
    expect(lanes.map((lane) => lane.map((x) => x.id))).toEqual([['1', '2', '3', '4']])
  })
})

describe('retryDelayMs', () => {
  it('takes the delay of the cycle attempt, within the jitter, and none past the last', () => {
    const delays = [100, 1000]
    expect(retryDelayMs(delays, 1, 0.2, () => 0)).toBe(80)
    expect(retryDelayMs(delays, 1, 0.2, () => 1)).toBe(120)
    expect(retryDelayMs(delays, 2, 0.2, () => 0.5)).toBe(1000)
    expect(retryDelayMs(delays, 3, 0.2, () => 0.5)).toBeNull()
  })
})
