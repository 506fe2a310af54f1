import { parseArgs } from 'node:util'

export const SCENARIO_NAMES = [
  'transfers',
  'transfers-1000',
  'hot-wallet',
  'hot-merchant',
  'bulk',
  'reads',
  'mixed',
  'history-deep',
  'history-shallow',
  'relay',
  'operations',
  'webhooks',
  'withdrawals',
  'points',
  'points-expiry',
  'statement',
] as const
export type ScenarioName = (typeof SCENARIO_NAMES)[number]

export interface BenchOptions {
  scenarios: ScenarioName[]
  /** Seconds each scenario is measured, after its warm-up. */
  duration: number
  /** Seconds of unmeasured load before each scenario. */
  warmup: number
  connections: number
  wallets: number
  /** Entries of the deep wallet of history-deep and statement. */
  deepEntries: number
  /** Lots due to expire in points-expiry. */
  pointsLots: number
  /** DATABASE_POOL_SIZE of the served process. */
  pool: number
  pgbenchDuration: number
  databaseUrl: string
  /** RabbitMQ for the relay and operations scenarios (a vhost of the run's own is made on it). */
  amqpUrl: string
  /** Redis for the second run of `reads`, with the balance cache on (keys under a run-specific prefix). */
  redisUrl: string
  keep: boolean
  profile: boolean
}

const USAGE = `usage: npm run bench -- [options]

  --scenario <name>          ${SCENARIO_NAMES.join(', ')} or all (default all); repeatable
  --duration <s>             seconds measured per scenario (default 20)
  --warmup <s>               unmeasured seconds before each scenario (default 2, 1 below --duration 10)
  --connections <n>          concurrent HTTP connections, and pgbench clients (default 64)
  --wallets <n>              funded wallets (default 10000)
  --deep-entries <n>         entries of the deep wallet of history-deep and statement
                             (default 100 per wallet, at most 1000000)
  --points-lots <n>          lots due to expire in points-expiry (default 100 per wallet, at most 1000000)
  --pool <n>                 DATABASE_POOL_SIZE of coffer serve (default 16)
  --pgbench-duration <s>     seconds per pgbench run (default 15, or --duration when shorter)
  --keep                     keep the bench databases instead of dropping them
  --profile                  run coffer serve under --cpu-prof and summarise the profile

  BENCH_DATABASE_URL         server to create the bench databases on
                             (default postgres://postgres@127.0.0.1:5432/postgres)
  BENCH_AMQP_URL             RabbitMQ for relay and operations (default amqp://guest:guest@127.0.0.1:5672)
  BENCH_REDIS_URL            Redis of the reads scenario's cached run (default redis://127.0.0.1:6379)
`

export class UsageError extends Error {}

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new UsageError(`--${name} must be a positive integer, not ${text}`)
  return Number(text)
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      scenario: { type: 'string', multiple: true },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      wallets: { type: 'string' },
      'deep-entries': { type: 'string' },
      'points-lots': { type: 'string' },
      pool: { type: 'string' },
      'pgbench-duration': { type: 'string' },
      keep: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) return 'help'

  const requested = (values.scenario ?? ['all']).flatMap((s) => s.split(','))
  const unknown = requested.filter((s) => s !== 'all' && !(SCENARIO_NAMES as readonly string[]).includes(s))
  if (unknown.length > 0) throw new UsageError(`unknown scenario ${unknown.join(', ')}`)
  const scenarios = requested.includes('all')
    ? [...SCENARIO_NAMES]
    : SCENARIO_NAMES.filter((name) => requested.includes(name))

  const duration = positiveInteger('duration', values.duration, 20)
  const wallets = positiveInteger('wallets', values.wallets, 10_000)
  if (wallets < 2) throw new UsageError('--wallets must be at least 2: a transfer needs two wallets')
  const warmup = values.warmup === '0' ? 0 : positiveInteger('warmup', values.warmup, duration < 10 ? 1 : 2)
  return {
    scenarios,
    duration,
    warmup,
    connections: positiveInteger('connections', values.connections, 64),
    wallets,
    deepEntries: positiveInteger('deep-entries', values['deep-entries'], Math.min(1_000_000, wallets * 100)),
    pointsLots: positiveInteger('points-lots', values['points-lots'], Math.min(1_000_000, wallets * 100)),
    pool: positiveInteger('pool', values.pool, 16),
    pgbenchDuration: positiveInteger('pgbench-duration', values['pgbench-duration'], Math.min(15, duration)),
    databaseUrl: env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    amqpUrl: env.BENCH_AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672',
    redisUrl: env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
    keep: values.keep,
    profile: values.profile,
  }
}

export function usage(): string {
  return USAGE
}
