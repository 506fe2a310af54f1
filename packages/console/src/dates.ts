/**
 * Date inputs give calendar days (YYYY-MM-DD) in the browser's time zone; the API takes instants.
 * "To" reads as inclusive on screen (a person picking the 12th means the whole 12th), while the API's
 * `to` is exclusive, so it becomes the start of the next day.
 */

function localMidnight(day: string): Date {
  const [year, month, date] = day.split('-').map((part) => Number.parseInt(part, 10))
  if (!year || !month || !date) throw new Error(`Not a calendar date: ${day}`)
  return new Date(year, month - 1, date)
}

export function startOfDay(day: string): string {
  return localMidnight(day).toISOString()
}

export function endOfDayExclusive(day: string): string {
  const next = localMidnight(day)
  next.setDate(next.getDate() + 1)
  return next.toISOString()
}

/** The calendar day after `day`, as YYYY-MM-DD (for the statement period's exclusive end). */
export function nextDay(day: string): string {
  const next = localMidnight(day)
  next.setDate(next.getDate() + 1)
  return calendarDay(next)
}

export function calendarDay(date: Date): string {
  const month = String(date.getMonth() + 1).padStart(2, '0')
  const day = String(date.getDate()).padStart(2, '0')
  return `${date.getFullYear()}-${month}-${day}`
}

export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone
}
