import { Counter, Histogram } from 'prom-client'
import { registry } from './registry.js'

/** Runs of the worker's periodic jobs (src/worker/jobs.ts), by job name and outcome (ok, failed). */
export const workerJobRuns = new Counter({
  name: 'coffer_worker_job_runs_total',
  help: 'Runs of the periodic worker jobs, by job name and outcome (ok, failed).',
  labelNames: ['job', 'outcome'] as const,
  registers: [registry],
})

export const workerJobDuration = new Histogram({
  name: 'coffer_worker_job_duration_seconds',
  help: 'Duration of one run of a periodic worker job, by job name.',
  labelNames: ['job'] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
  registers: [registry],
})

/** Runs one run of a worker job, counting it and its duration, and whether it threw. */
export async function countedJobRun(job: string, run: () => Promise<void>): Promise<void> {
  const started = performance.now()
  let outcome = 'failed'
  try {
    await run()
    outcome = 'ok'
  } finally {
    workerJobRuns.inc({ job, outcome })
    workerJobDuration.observe({ job }, (performance.now() - started) / 1000)
  }
}

export const statementJobsStarted = new Counter({
  name: 'coffer_statement_jobs_started_total',
  help: 'Statement jobs this process started generating (each attempt counts).',
  registers: [registry],
})

/**
 * How an attempt ended: `done` (file stored), `failed` (the job failed), `handed_back` (this
 * worker stopped; another takes it), `lease_lost` (another worker took it over), `given_up`
 * (its workers died on every attempt).
 */
export type StatementJobOutcome = 'done' | 'failed' | 'handed_back' | 'lease_lost' | 'given_up'

export const statementJobsFinished = new Counter({
  name: 'coffer_statement_jobs_finished_total',
  help: 'Statement job attempts ended, by outcome (done, failed, handed_back, lease_lost, given_up).',
  labelNames: ['outcome'] as const,
  registers: [registry],
})

export const statementJobDuration = new Histogram({
  name: 'coffer_statement_job_duration_seconds',
  help: 'Time to generate a statement job, from claim to stored file (or failure), by format and outcome.',
  labelNames: ['format', 'outcome'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  registers: [registry],
})

export function countStatementJob(outcome: StatementJobOutcome, format?: string, seconds?: number): void {
  statementJobsFinished.inc({ outcome })
  if (format !== undefined && seconds !== undefined)
    statementJobDuration.observe({ format, outcome }, seconds)
}

/** Lots settled by the settle-points job: `matured` (pending to available) or `expired`. */
export const pointsLotsSettled = new Counter({
  name: 'coffer_points_lots_settled_total',
  help: 'Point lots settled by the settle-points job, by change (matured, expired).',
  labelNames: ['change'] as const,
  registers: [registry],
})

export const pointsAccountsSettled = new Counter({
  name: 'coffer_points_accounts_settled_total',
  help: 'Point accounts whose due lots the settle-points job settled.',
  registers: [registry],
})

/** One committed batch of the settle-points job. */
export function countPointsSettled(settled: { accounts: number; matured: number; expired: number }): void {
  if (settled.accounts > 0) pointsAccountsSettled.inc(settled.accounts)
  if (settled.matured > 0) pointsLotsSettled.inc({ change: 'matured' }, settled.matured)
  if (settled.expired > 0) pointsLotsSettled.inc({ change: 'expired' }, settled.expired)
}

for (const outcome of ['done', 'failed', 'handed_back', 'lease_lost', 'given_up'] as const) {
  statementJobsFinished.inc({ outcome }, 0)
}
pointsLotsSettled.inc({ change: 'matured' }, 0)
pointsLotsSettled.inc({ change: 'expired' }, 0)
