import { Counter, Histogram } from 'prom-client'
import { boundedLabel, registry } from './registry.js'

/**
 * The posting engine's decisions, by transaction type and outcome: `posted`, or `refused` with
 * the refusal's code (insufficient_funds, wallet_frozen, ...). Counted once the engine has
 * written them in its transaction; a transaction rolled back after that (a dry-run batch, an
 * atomic batch with a refused item, a group commit that failed whole and is posted again one by
 * one) has counted its postings all the same, so this is the engine's work, not the ledger's rows.
 */
export const postings = new Counter({
  name: 'coffer_postings_total',
  help: 'Postings decided by the ledger engine, by transaction type and outcome (posted, or refused with its code).',
  labelNames: ['type', 'outcome', 'code'] as const,
  registers: [registry],
})

export function countPosted(type: string): void {
  postings.inc({ type, outcome: 'posted' })
}

export function countRefused(type: string, code: string): void {
  postings.inc({ type, outcome: 'refused', code: boundedLabel(code) })
}

/** Movements per group commit: one database transaction (lock, write, commit) for all of them. */
export const groupCommitBatchSize = new Histogram({
  name: 'coffer_group_commit_batch_size',
  help: 'Movements posted together in one group-commit database transaction.',
  buckets: [1, 2, 4, 8, 16, 32, 64, 100],
  registers: [registry],
})

export const idempotencyReplays = new Counter({
  name: 'coffer_idempotency_replays_total',
  help: 'Requests and commands answered with the recorded answer of their Idempotency-Key (or operationId).',
  registers: [registry],
})

/**
 * `reused`: the key came with another request (422 idempotency_key_reused); `in_flight`: its
 * first request was still running (409 idempotency_key_in_flight).
 */
export const idempotencyConflicts = new Counter({
  name: 'coffer_idempotency_conflicts_total',
  help: 'Idempotency keys refused: reused with another request (422) or still in flight (409).',
  labelNames: ['reason'] as const,
  registers: [registry],
})

// Both reasons from the start, so a rate over them is 0 rather than absent before the first one.
idempotencyConflicts.inc({ reason: 'reused' }, 0)
idempotencyConflicts.inc({ reason: 'in_flight' }, 0)
