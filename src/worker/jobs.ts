import type { Container } from '../container.js'
import { CURRENCY_RELOAD_INTERVAL_MS } from '../currencies/currencies.service.js'
import { purgePublishedEvents } from '../events/relay.js'
import { releaseOverdueHolds } from '../ledger/hold-expiry.js'
import { foldSystemBalances } from '../ledger/system-balances.js'
import type { WorkerJob } from './worker.js'

const HOUR_MS = 3_600_000

/**
 * Every background job of the worker; modules add theirs here. A job that folds, expires or
 * purges shared rows has one runner at a time across worker processes (`runners: 'one'`, by
 * lease); one that refreshes this process's own state runs in each.
 */
export function workerJobs(container: Container): WorkerJob[] {
  const { db } = container.database
  return [
    {
      // Amounts of custom assets (USDT, ...) are parsed and formatted with decimals that an API
      // process may have defined after this one started: each process reloads its own registry.
      name: 'reload-currencies',
      intervalMs: CURRENCY_RELOAD_INTERVAL_MS,
      run: () => container.customCurrencies.load(),
    },
    {
      // Runs again at once while batches are full (OutboxRelay.run). In every process: each
      // batch takes the relay's transaction-scoped advisory lock, so one worker at a time leads
      // and a dead leader's lock goes with its transaction, at once rather than after a lease.
      name: 'relay-outbox',
      intervalMs: container.config.OUTBOX_RELAY_INTERVAL_MS,
      run: async () => {
        await container.relay.run()
      },
    },
    {
      name: 'purge-published-events',
      runners: 'one',
      intervalMs: 10 * 60_000,
      run: async () => {
        const cutoff = new Date(Date.now() - container.config.OUTBOX_RETENTION_HOURS * HOUR_MS)
        const purged = await purgePublishedEvents(db, cutoff)
        if (purged > 0) container.logger.info({ purged }, 'published outbox events purged')
      },
    },
    {
      // A POST /operations whose command was never sent, or was dead-lettered after its retries.
      name: 'redispatch-operations',
      runners: 'one',
      intervalMs: 30_000,
      run: async () => {
        const resent = await container.operations.redispatchStale()
        if (resent > 0) container.logger.warn({ resent }, 'commands of stale accepted operations sent again')
      },
    },
    {
      name: 'fold-system-balances',
      runners: 'one',
      intervalMs: 1000,
      run: async () => {
        const folded = await foldSystemBalances(db)
        if (folded > 0) container.logger.debug({ folded }, 'system balances folded')
      },
    },
    {
      name: 'expire-holds',
      runners: 'one',
      intervalMs: 5000,
      run: async () => {
        const released = await releaseOverdueHolds(db, container.ledger)
        if (released > 0) container.logger.info({ released }, 'expired holds released')
      },
    },
    {
      // Batches of accounts with SKIP LOCKED (PointsService.settleDueAccounts): a midnight of
      // lapsing lots never holds many locks at once, nor waits on a request's.
      name: 'settle-points',
      runners: 'one',
      intervalMs: 5000,
      run: async () => {
        const settled = await container.points.settleDueAccounts()
        if (settled.accounts > 0) container.logger.info(settled, 'due point lots matured and expired')
      },
    },
    {
      // Finished statement jobs and their files, after STATEMENT_RETENTION_HOURS.
      name: 'purge-statements',
      runners: 'one',
      intervalMs: 10 * 60_000,
      run: async () => {
        const purged = await container.statements.purgeExpired()
        if (purged > 0) container.logger.info({ purged }, 'expired statement jobs and files deleted')
      },
    },
    {
      name: 'purge-idempotency-keys',
      runners: 'one',
      intervalMs: 10 * 60_000,
      run: async () => {
        const cutoff = new Date(Date.now() - container.config.IDEMPOTENCY_KEY_TTL_HOURS * HOUR_MS)
        const purged = await container.idempotency.purgeOlderThan(cutoff)
        if (purged > 0) container.logger.info({ purged }, 'expired idempotency keys purged')
      },
    },
    {
      // The access-token denylist and refresh tokens only matter until the tokens expire.
      name: 'purge-expired-credentials',
      runners: 'one',
      intervalMs: 10 * 60_000,
      run: async () => {
        const purged = await container.auth.purgeExpired()
        if (purged.deniedTokens + purged.refreshTokens > 0) {
          container.logger.info(purged, 'expired denylist entries and refresh tokens purged')
        }
      },
    },
  ]
}
