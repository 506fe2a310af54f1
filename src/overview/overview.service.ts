import type { OutboxBacklogRow } from '../events/outbox.js'
import type { FailedOperationRow, UnsettledOperationCounts } from '../operations/operations.repository.js'
import type { StatementJobCountsRow } from '../statements/statements.repository.js'
import type { FailedDeliveryRow, WebhookBacklogCounts } from '../webhooks/webhooks.repository.js'
import type { JobLeaseRow } from '../worker/job-leases.js'
import type { DeadLetter, OperationsOverview } from './overview.schemas.js'

/** How many dead letters the overview lists; the counts cover them all. */
export const LATEST_DEAD_LETTERS = 20

/**
 * The figures the overview composes, each read by the module that owns its table (the container
 * binds them to the database), so the overview reads no table itself.
 */
export interface OverviewSources {
  outboxBacklog(): Promise<OutboxBacklogRow>
  unsettledOperationCounts(): Promise<UnsettledOperationCounts>
  latestFailedOperations(limit: number): Promise<FailedOperationRow[]>
  webhookBacklogCounts(): Promise<WebhookBacklogCounts>
  latestFailedDeliveries(limit: number): Promise<FailedDeliveryRow[]>
  jobLeases(): Promise<JobLeaseRow[]>
  statementJobCounts(): Promise<StatementJobCountsRow>
}

/**
 * What an operator checks first, from the database alone, so it reads the same on the embedded
 * shape (no broker to ask) as on the services one: the outbox backlog, what failed for good,
 * what still waits, and which worker holds which job.
 */
export class OverviewService {
  constructor(private readonly sources: OverviewSources) {}

  async overview(): Promise<OperationsOverview> {
    // One after the other: PGlite has one connection, and on PostgreSQL these are index reads.
    const outbox = await this.sources.outboxBacklog()
    const operations = await this.sources.unsettledOperationCounts()
    const failedOperations = await this.sources.latestFailedOperations(LATEST_DEAD_LETTERS)
    const webhooks = await this.sources.webhookBacklogCounts()
    const failedDeliveries = await this.sources.latestFailedDeliveries(LATEST_DEAD_LETTERS)
    const leases = await this.sources.jobLeases()
    const statements = await this.sources.statementJobCounts()

    const latest = [...failedOperations.map(operationLetter), ...failedDeliveries.map(deliveryLetter)]
      .sort((a, b) => b.failedAt.localeCompare(a.failedAt))
      .slice(0, LATEST_DEAD_LETTERS)
    return {
      generatedAt: outbox.now.toISOString(),
      outbox: {
        pending: outbox.pending,
        oldestPendingAt: outbox.oldest_pending_at?.toISOString() ?? null,
        oldestPendingAgeSeconds: Math.max(0, Math.round((outbox.oldest_age_seconds ?? 0) * 1000) / 1000),
      },
      deadLetters: {
        count: operations.failed + webhooks.failed,
        failedOperations: operations.failed,
        failedWebhookDeliveries: webhooks.failed,
        latest,
      },
      operations: {
        accepted: operations.accepted,
        oldestAcceptedAt: operations.oldest_accepted_at?.toISOString() ?? null,
      },
      webhooks: {
        pendingDeliveries: webhooks.pending,
        disabledSubscriptions: webhooks.disabled_subscriptions,
      },
      workerJobs: leases.map((lease) => ({
        job: lease.name,
        holder: lease.owner,
        leaseUntil: lease.expires_at.toISOString(),
        takenAt: lease.taken_at.toISOString(),
        active: lease.active,
      })),
      statementJobs: {
        queued: statements.queued,
        running: statements.running,
        done: statements.done,
        failed: statements.failed,
        oldestQueuedAt: statements.oldest_queued_at?.toISOString() ?? null,
      },
    }
  }
}

function operationLetter(row: FailedOperationRow): DeadLetter {
  return {
    kind: 'operation',
    id: row.id,
    type: row.type,
    source: row.sender,
    reason: row.code ?? 'refused',
    detail: row.detail,
    attempts: null,
    failedAt: row.failed_at.toISOString(),
  }
}

function deliveryLetter(row: FailedDeliveryRow): DeadLetter {
  return {
    kind: 'webhook_delivery',
    id: row.id,
    type: row.event_type,
    source: row.subscription_id,
    reason: row.last_error ?? (row.last_status_code === null ? 'failed' : `HTTP ${row.last_status_code}`),
    detail: null,
    attempts: row.attempts,
    failedAt: row.failed_at.toISOString(),
  }
}
