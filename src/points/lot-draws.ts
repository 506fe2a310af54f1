/**
 * Which lots a spend takes its points from. Pure, so the rule (earliest expiry first, lots that
 * never expire last, then the oldest first) is stated once and unit-tested apart from SQL; the
 * repository hands the lots in that order already, and this re-sorts rather than trust it.
 */
export interface SpendableLot {
  id: string
  remaining: bigint
  expiresAt: Date | null
}

export interface Draw {
  lotId: string
  points: bigint
}

export function compareForDrawing(a: SpendableLot, b: SpendableLot): number {
  if (a.expiresAt && b.expiresAt && a.expiresAt.getTime() !== b.expiresAt.getTime())
    return a.expiresAt.getTime() - b.expiresAt.getTime()
  if (a.expiresAt && !b.expiresAt) return -1
  if (!a.expiresAt && b.expiresAt) return 1
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/** The draws that make up `points`, or null when the lots together hold fewer. */
export function planDraws(lots: readonly SpendableLot[], points: bigint): Draw[] | null {
  const draws: Draw[] = []
  let left = points
  for (const lot of [...lots].sort(compareForDrawing)) {
    if (left === 0n) break
    if (lot.remaining <= 0n) continue
    const take = lot.remaining < left ? lot.remaining : left
    draws.push({ lotId: lot.id, points: take })
    left -= take
  }
  return left === 0n ? draws : null
}

/** Points are whole numbers; one request moves at most this many. */
export const MAX_POINTS = 10n ** 15n

/**
 * Points as the API takes them: a decimal string of digits, like a 0-decimal amount ("100"), a
 * leading minus only where `signed`. Zero, fractions, exponents and more than MAX_POINTS are refused.
 */
export function parsePoints(text: string, options: { signed?: boolean } = {}): bigint | { refused: string } {
  const match = /^(-?)(\d+)$/.exec(text)
  if (!match) {
    return /^-?\d*\.\d*$/.test(text) && text !== '.'
      ? { refused: 'must be a whole number' }
      : { refused: 'must be a whole number in decimal digits, e.g. "100"' }
  }
  if (match[1] && !options.signed) return { refused: 'must be positive' }
  if (match[2]!.length > 1 && match[2]!.startsWith('0')) return { refused: 'must not have leading zeros' }
  const value = BigInt(text)
  if (value === 0n) return { refused: 'must not be zero' }
  if (value > MAX_POINTS || -value > MAX_POINTS) return { refused: `must be at most ${MAX_POINTS} in size` }
  return value
}
