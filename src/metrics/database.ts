import { Gauge } from 'prom-client'
import { registry } from './registry.js'

/** `primary` takes every write; `replica` is DATABASE_READ_URL's pool. */
export type PoolRole = 'primary' | 'replica'

/** A pool's figures at one instant (pg.Pool's counts; PGlite's one connection). */
export interface PoolFigures {
  /** Open connections, in use or idle. */
  total: number
  idle: number
  /** Queries and transactions waiting for a connection. */
  waiting: number
  max: number
}

export interface TrackedPool {
  role: PoolRole
  figures(): PoolFigures
  /** True once the pool is closed; it is then dropped from the gauges. */
  closed(): boolean
}

const pools = new Set<TrackedPool>()

/** Adds a pool to the gauges; src/db/database.ts tracks every pool it makes. */
export function trackPool(pool: TrackedPool): void {
  for (const tracked of pools) if (tracked.closed()) pools.delete(tracked)
  pools.add(pool)
}

/** The figures of the open pools, summed per role (a process has one of each, tests more). */
function figuresByRole(): Map<PoolRole, PoolFigures> {
  const sums = new Map<PoolRole, PoolFigures>()
  for (const pool of pools) {
    if (pool.closed()) {
      pools.delete(pool)
      continue
    }
    const figures = pool.figures()
    const sum = sums.get(pool.role) ?? { total: 0, idle: 0, waiting: 0, max: 0 }
    sum.total += figures.total
    sum.idle += figures.idle
    sum.waiting += figures.waiting
    sum.max += figures.max
    sums.set(pool.role, sum)
  }
  return sums
}

export const poolConnections = new Gauge({
  name: 'coffer_db_pool_connections',
  help: 'Open database connections of the pool, by pool (primary, replica) and state (in_use, idle).',
  labelNames: ['pool', 'state'] as const,
  registers: [registry],
  collect() {
    this.reset()
    for (const [pool, figures] of figuresByRole()) {
      this.set({ pool, state: 'in_use' }, figures.total - figures.idle)
      this.set({ pool, state: 'idle' }, figures.idle)
    }
  },
})

export const poolWaiting = new Gauge({
  name: 'coffer_db_pool_waiting_requests',
  help: 'Queries and transactions waiting for a free database connection, by pool.',
  labelNames: ['pool'] as const,
  registers: [registry],
  collect() {
    this.reset()
    for (const [pool, figures] of figuresByRole()) this.set({ pool }, figures.waiting)
  },
})

export const poolMax = new Gauge({
  name: 'coffer_db_pool_max_connections',
  help: 'Most connections the pool opens (DATABASE_POOL_SIZE; 1 for the embedded PGlite), by pool.',
  labelNames: ['pool'] as const,
  registers: [registry],
  collect() {
    this.reset()
    for (const [pool, figures] of figuresByRole()) this.set({ pool }, figures.max)
  },
})
