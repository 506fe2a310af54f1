import { DateTime, IANAZone } from 'luxon'
import type { StatementPeriod } from './statement-types.js'
import { InvalidStatementPeriod, StatementPeriodTooLong, UnknownTimeZone } from './statements.errors.js'

const DAY_MS = 86_400_000
const FULL_DATE = /^\d{4}-\d{2}-\d{2}$/
// RFC 3339 date-time: an offset or Z is required, so an instant never depends on the server's zone.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/

export interface PeriodInput {
  from: string
  to: string
  tz?: string | undefined
}

export interface PeriodLimits {
  maxDays: number
}

/**
 * `from` and `to` are RFC 3339 instants, or calendar dates (`2026-11-01`) meaning the start of
 * that day in `tz` (UTC by default): `from=2026-11-01&to=2026-12-01&tz=Europe/Moscow` is
 * November as Moscow saw it. `from` is inclusive, `to` exclusive.
 */
export function parseStatementPeriod(input: PeriodInput, limits: PeriodLimits): StatementPeriod {
  const timeZone = normaliseZone(input.tz ?? 'UTC')
  const from = parseBoundary('from', input.from, timeZone)
  const to = parseBoundary('to', input.to, timeZone)
  if (from.getTime() >= to.getTime()) {
    throw new InvalidStatementPeriod({
      reason: `from (${from.toISOString()}) must be before to (${to.toISOString()}); to is exclusive`,
    })
  }
  const days = Math.ceil((to.getTime() - from.getTime()) / DAY_MS)
  if (days > limits.maxDays) throw new StatementPeriodTooLong({ days, maxDays: limits.maxDays })
  return { from, to, timeZone }
}

function normaliseZone(tz: string): string {
  if (tz.length > 64 || !IANAZone.isValidZone(tz)) throw new UnknownTimeZone({ timeZone: tz })
  // The zone's own spelling (luxon accepts any case): printed on the statement as such.
  const canonical = new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone
  return canonical === 'Etc/UTC' || canonical === 'Etc/GMT' ? 'UTC' : canonical
}

function parseBoundary(name: 'from' | 'to', value: string, timeZone: string): Date {
  let parsed: DateTime
  if (FULL_DATE.test(value)) parsed = DateTime.fromISO(value, { zone: timeZone })
  else if (DATE_TIME.test(value)) parsed = DateTime.fromISO(value.replace(' ', 'T'), { setZone: true })
  else {
    throw new InvalidStatementPeriod({
      reason: `${name} "${value}" is neither an RFC 3339 date-time with an offset (2026-11-01T00:00:00Z) nor a date (2026-11-01)`,
    })
  }
  if (!parsed.isValid) {
    throw new InvalidStatementPeriod({
      reason: `${name} "${value}" is not a valid date: ${parsed.invalidExplanation ?? parsed.invalidReason}`,
    })
  }
  const at = parsed.toJSDate()
  if (at.getUTCFullYear() < 1970 || at.getUTCFullYear() > 9999) {
    throw new InvalidStatementPeriod({ reason: `${name} "${value}" is outside the years 1970 to 9999` })
  }
  return at
}
