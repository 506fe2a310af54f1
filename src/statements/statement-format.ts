import { DateTime } from 'luxon'
import { formatAmount } from '../money/money.js'
import type { StatementSummary } from './statement-types.js'

const BUCKET_MS = 15 * 60_000
const MINUTE_MS = 60_000
const DAY_MS = 86_400_000

/** `00`…`99` and `000`…`999`: the digits of a time are looked up, not formatted. */
const TWO_DIGITS = Array.from({ length: 100 }, (_, n) => String(n).padStart(2, '0'))
const THREE_DIGITS = Array.from({ length: 1000 }, (_, n) => String(n).padStart(3, '0'))

/** What every instant of one UTC quarter hour shares in a zone. */
interface Bucket {
  offset: number
  /** `2026-11-03T10:` in the zone: a quarter hour of UTC is a quarter hour of the zone's clock. */
  hourPrefix: string
  /** `2026-11-03 10:`, for printed tables. */
  tablePrefix: string
  /** The zone's minute of the hour at the bucket's start. */
  minute: number
  /** `2026-11-03` */
  date: string
  /**
   * Whether the offset is whole quarter hours, so the bucket is a quarter hour of the zone's clock
   * too. Not so for some local mean times before 1900-ish (Kolkata's +05:21:10): those lines take
   * the general path.
   */
  aligned: boolean
}

/**
 * Prints instants in one IANA zone as RFC 3339 with that zone's offset
 * (`2026-11-03T10:00:00.000+03:00`). Every zone's offset changes only on a quarter hour, so all
 * that an instant shares with its UTC quarter hour (the offset, the local date and hour) is
 * computed once per quarter hour and only minutes, seconds and milliseconds per line: a
 * 1,000,000-line statement pays neither a time-zone computation nor a date formatting per line.
 */
export class ZonedClock {
  private readonly buckets = new Map<number, Bucket>()
  private readonly suffixes = new Map<number, string>()
  /** The last bucket used: lines come in time order, so most lines hit it. */
  private lastIndex = Number.NaN
  private lastBucket: Bucket | undefined
  /** The UTC day last asked about, and its one offset (null when it changes that day). */
  private day = Number.NaN
  private dayOffset: number | null = null

  constructor(readonly timeZone: string) {}

  private bucketOf(ms: number): Bucket {
    const index = Math.floor(ms / BUCKET_MS)
    if (index === this.lastIndex) return this.lastBucket!
    let bucket = this.buckets.get(index)
    if (bucket === undefined) {
      const start = index * BUCKET_MS
      const offset = this.offsetAt(start)
      const iso = new Date(start + offset * MINUTE_MS).toISOString()
      bucket = {
        offset,
        hourPrefix: iso.slice(0, 14),
        tablePrefix: `${iso.slice(0, 10)} ${iso.slice(11, 14)}`,
        minute: Number(iso.slice(14, 16)),
        date: iso.slice(0, 10),
        aligned: offset % 15 === 0,
      }
      if (this.buckets.size > 10_000) this.buckets.clear()
      this.buckets.set(index, bucket)
    }
    this.lastIndex = index
    this.lastBucket = bucket
    return bucket
  }

  /**
   * The offset at `ms`, a quarter hour's start. A zone's offset is looked up (through Intl, some
   * microseconds) at the start of `ms`'s UTC day and of the next: when both agree, the day has one
   * offset (no zone changes its offset and back within a day), otherwise each quarter hour of
   * that day is looked up. Lines minutes apart thus cost two lookups a day, not one per line.
   */
  private offsetAt(ms: number): number {
    const day = Math.floor(ms / DAY_MS)
    if (day !== this.day) {
      const first = this.lookUp(day * DAY_MS)
      this.day = day
      this.dayOffset = first === this.lookUp((day + 1) * DAY_MS) ? first : null
    }
    return this.dayOffset ?? this.lookUp(ms)
  }

  private lookUp(ms: number): number {
    return DateTime.fromMillis(ms, { zone: this.timeZone }).offset
  }

  /** Offset from UTC in minutes at `at`. */
  offsetMinutes(at: Date): number {
    return this.bucketOf(at.getTime()).offset
  }

  /** `2026-11-03T10:00:00.000+03:00` (`Z` for UTC itself). */
  timestamp(at: Date): string {
    const ms = at.getTime()
    const bucket = this.bucketOf(ms)
    if (!bucket.aligned) return this.local(ms, bucket.offset).slice(0, 23) + this.suffix(bucket.offset)
    // Milliseconds into the quarter hour: 0 ≤ within < 900,000 (floor, also before 1970).
    const within = ms - Math.floor(ms / BUCKET_MS) * BUCKET_MS
    const minutes = Math.floor(within / MINUTE_MS)
    const millis = within - minutes * MINUTE_MS
    const seconds = Math.floor(millis / 1000)
    return `${bucket.hourPrefix}${TWO_DIGITS[bucket.minute + minutes]}:${TWO_DIGITS[seconds]}.${THREE_DIGITS[millis - seconds * 1000]}${this.suffix(bucket.offset)}`
  }

  /** `2026-11-03` in the zone. */
  date(at: Date): string {
    const ms = at.getTime()
    const bucket = this.bucketOf(ms)
    return bucket.aligned ? bucket.date : this.local(ms, bucket.offset).slice(0, 10)
  }

  /** `2026-11-03 10:00` in the zone, for printed tables. */
  minute(at: Date): string {
    const ms = at.getTime()
    const bucket = this.bucketOf(ms)
    if (!bucket.aligned) {
      const iso = this.local(ms, bucket.offset)
      return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`
    }
    const within = ms - Math.floor(ms / BUCKET_MS) * BUCKET_MS
    return `${bucket.tablePrefix}${TWO_DIGITS[bucket.minute + Math.floor(within / MINUTE_MS)]}`
  }

  /** The zone's wall clock at `ms` as an ISO string (its `Z` meaning nothing). */
  private local(ms: number, offset: number): string {
    return new Date(ms + offset * MINUTE_MS).toISOString()
  }

  private suffix(offset: number): string {
    let suffix = this.suffixes.get(offset)
    if (suffix === undefined) {
      suffix = suffixOf(offset, this.timeZone)
      this.suffixes.set(offset, suffix)
    }
    return suffix
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
