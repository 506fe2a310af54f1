import { DateTime } from 'luxon'
import { formatAmount } from '../money/money.js'
import type { StatementSummary } from './statement-types.js'

const BUCKET_MS = 15 * 60_000

/**
 * Prints instants in one IANA zone as RFC 3339 with that zone's offset
 * (`2026-11-03T10:00:00.000+03:00`). The offset is looked up once per quarter hour of UTC (every
 * zone's offset changes only on a quarter hour), so a 1,000,000-line statement does not pay a
 * time-zone computation per line.
 */
export class ZonedClock {
  private readonly offsets = new Map<number, number>()

  constructor(readonly timeZone: string) {}

  /** Offset from UTC in minutes at `at`. */
  offsetMinutes(at: Date): number {
    const bucket = Math.floor(at.getTime() / BUCKET_MS)
    let offset = this.offsets.get(bucket)
    if (offset === undefined) {
      offset = DateTime.fromMillis(bucket * BUCKET_MS, { zone: this.timeZone }).offset
      if (this.offsets.size > 10_000) this.offsets.clear()
      this.offsets.set(bucket, offset)
    }
    return offset
  }

  /** `2026-11-03T10:00:00.000+03:00` (`Z` for UTC itself). */
  timestamp(at: Date): string {
    const offset = this.offsetMinutes(at)
    const local = new Date(at.getTime() + offset * 60_000).toISOString().slice(0, 23)
    return local + suffixOf(offset, this.timeZone)
  }

  /** `2026-11-03` in the zone. */
  date(at: Date): string {
    const offset = this.offsetMinutes(at)
    return new Date(at.getTime() + offset * 60_000).toISOString().slice(0, 10)
  }

  /** `2026-11-03 10:00` in the zone, for printed tables. */
  minute(at: Date): string {
    const offset = this.offsetMinutes(at)
    const iso = new Date(at.getTime() + offset * 60_000).toISOString()
    return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`
  }
}

function suffixOf(offsetMinutes: number, timeZone: string): string {
  if (offsetMinutes === 0 && (timeZone === 'UTC' || timeZone === 'Etc/UTC')) return 'Z'
  const sign = offsetMinutes < 0 ? '-' : '+'
  const abs = Math.abs(offsetMinutes)
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
}

/** Formats a summary's amounts: the canonical decimal string of its currency. */
export function amountFormatter(summary: Pick<StatementSummary, 'currency' | 'decimals'>) {
  const currency = {
    code: summary.currency,
    decimals: summary.decimals,
    name: summary.currency,
    kind: 'custom' as const,
  }
  return (minor: bigint): string => formatAmount(minor, currency)
}
