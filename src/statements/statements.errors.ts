import { defineError } from '../errors.js'

export const InvalidStatementPeriod = defineError<{ reason: string }>({
  code: 'invalid_statement_period',
  status: 422,
  title: 'Invalid statement period',
  detail: (p) => p.reason,
  members: ['reason'],
})

export const StatementPeriodTooLong = defineError<{ days: number; maxDays: number }>({
  code: 'statement_period_too_long',
  status: 422,
  title: 'Statement period too long',
  detail: (p) => `The period covers ${p.days} days; a statement covers at most ${p.maxDays} days`,
  members: ['maxDays'],
  extensions: (p) => ({ maxDays: p.maxDays }),
})

export const UnknownTimeZone = defineError<{ timeZone: string }>({
  code: 'unknown_time_zone',
  status: 422,
  title: 'Unknown time zone',
  detail: (p) => `"${p.timeZone}" is not an IANA time zone (e.g. UTC, Europe/Moscow, America/New_York)`,
  members: ['timeZone'],
})

export const StatementFormatNotAcceptable = defineError<{ accept: string }>({
  code: 'statement_format_not_acceptable',
  status: 406,
  title: 'Statement format not acceptable',
  detail: (p) =>
    `A statement is JSON (application/json), CSV (text/csv) or PDF (application/pdf); Accept: ${p.accept} allows none of them`,
})

export const StatementJobNotFound = defineError<{ jobId: string }>({
  code: 'statement_job_not_found',
  status: 404,
  title: 'Statement not found',
  detail: (p) =>
    `No statement job ${p.jobId} of yours (finished statements are deleted after their retention)`,
  members: ['jobId'],
})

export const StatementNotReady = defineError<{ jobId: string; status: string }>({
  code: 'statement_not_ready',
  status: 409,
  title: 'Statement not ready',
  detail: (p) =>
    p.status === 'failed'
      ? `Statement job ${p.jobId} failed; ask for the statement again`
      : `Statement job ${p.jobId} is ${p.status}; download it when GET /api/v1/statements/${p.jobId} says done`,
  members: ['jobId', 'jobStatus', 'retryAfter'],
  extensions: (p) => ({
    jobId: p.jobId,
    jobStatus: p.status,
    ...(p.status === 'failed' ? {} : { retryAfter: 1 }),
  }),
})

export const TooManyStatementJobs = defineError<{ limit: number }>({
  code: 'too_many_statement_jobs',
  status: 429,
  title: 'Too many statement jobs',
  detail: (p) =>
    `You have ${p.limit} statement jobs queued or running, the most allowed at once; retry when one is done`,
  members: ['limit', 'retryAfter'],
  extensions: (p) => ({ limit: p.limit, retryAfter: 5 }),
})
