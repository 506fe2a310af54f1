import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { PGlite } from '@electric-sql/pglite'
import {
  type DatabaseConnection,
  type Dialect,
  type Driver,
  Kysely,
  PostgresDialect,
  sql,
  type Transaction,
  type TransactionSettings,
} from 'kysely'
import pg from 'pg'
import type { Logger } from 'pino'
import { type PoolRole, trackPool } from '../metrics/database.js'
import { lockDataDir } from './data-dir-lock.js'
import { PGliteDialect } from './pglite-dialect.js'
import { createPipelinedLane, type PipelinedLane } from './pipelined-lane.js'
import { withPreparedStatements } from './prepared-statements.js'
import type { Database } from './schema.js'

export type Db = Kysely<Database>
/** A database transaction: what repository methods take to join the caller's transaction. */
export type Trx = Transaction<Database>

export interface DatabaseHandles {
  /** Primary: every write and every read that must see the latest commit. */
  db: Db
  /** Replica for history and statements; the primary when no DATABASE_READ_URL is set. */
  readDb: Db
  kind: 'pglite' | 'postgres'
  close(): Promise<void>
}

const INT8_OID = 20
const NUMERIC_OID = 1700

/** int8 and numeric come back as bigint, so an amount never passes through a JS number. */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => parseBigIntOrDecimal(value)
    return pg.types.getTypeParser(oid, format)
  },
}

function parseBigIntOrDecimal(value: string): bigint | string {
  return /^-?\d+$/.test(value) ? BigInt(value) : value
}

export interface PoolSettings {
  logger?: Logger
  /** How long a request waits for a connection (a new one or a free one) before failing. */
  connectTimeoutMs?: number
  /** PostgreSQL's statement_timeout for every connection; 0 leaves the server's own. */
  statementTimeoutMs?: number
  /** Which pool the metrics name it (coffer_db_pool_*); default primary. */
  role?: PoolRole
}

/**
 * The bound when a caller gives none: tests and tools that build a pool themselves, on a machine
 * that may run many test files at once. The server passes DATABASE_CONNECT_TIMEOUT_MS (5 s).
 */
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000
/** A dead peer without a RST (a cable, a failover) is noticed by keepalive rather than never. */
const KEEPALIVE_INITIAL_DELAY_MS = 10_000

/** What every connection of Coffer's to PostgreSQL is opened with, pooled or pipelined. */
function clientConfigOf(connectionString: string, settings: PoolSettings): pg.ClientConfig {
  return {
    connectionString,
    types: pgTypes,
    connectionTimeoutMillis: settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS,
    ...(settings.statementTimeoutMs ? { statement_timeout: settings.statementTimeoutMs } : {}),
  }
}

export function createPostgresPool(
  connectionString: string,
  max: number,
  settings: PoolSettings = {},
): pg.Pool {
  const { logger } = settings
  const pool = new pg.Pool({ ...clientConfigOf(connectionString, settings), max })
  // An idle client's connection can die (server restart, failover, admin kill). pg then emits
  // 'error' on the pool, which without a listener would crash the process; the pool replaces
  // the client on next use, so logging is all there is to do.
  pool.on('error', (error) => logger?.warn({ err: error.message }, 'idle database connection lost'))
  // A client that is checked out when its connection dies emits 'error' on itself, where the
  // pool's idle listener is not attached: without this one the process exits. The query in
  // flight fails on its own (and answers 503, logged there); pg-pool drops the dead client when it
  // is released. An idle client's error is also the pool's, logged above, hence debug here.
  pool.on('connect', (client) => {
    client.on('error', (error) => logger?.debug({ err: error.message }, 'database connection lost'))
  })
  trackPool({
    role: settings.role ?? 'primary',
    figures: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max }),
    closed: () => pool.ending || pool.ended,
  })
  return pool
}

export async function openPGlite(options: { dataDir?: string; loadDataDir?: Blob }): Promise<PGlite> {
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true })
  return PGlite.create({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
    parsers: {
      [INT8_OID]: (value: string) => parseBigIntOrDecimal(value),
      [NUMERIC_OID]: (value: string) => parseBigIntOrDecimal(value),
    },
  })
}

export function kyselyOverPGlite(pglite: PGlite): Db {
  const usage: ConnectionUsage = { inUse: 0, waiting: 0 }
  trackPool({
    role: 'primary',
    figures: () => ({ total: 1, idle: 1 - usage.inUse, waiting: usage.waiting, max: 1 }),
    closed: () => pglite.closed,
  })
  return new Kysely<Database>({ dialect: countingUsage(new PGliteDialect(pglite), usage) })
}

/** PGlite's one connection: whether a query or transaction holds it, and how many wait for it. */
interface ConnectionUsage {
  inUse: number
  waiting: number
}

/**
 * The dialect with its driver counting acquisitions, for the pool gauges: PGlite has no pool to
 * ask, and its dialect's mutex is where requests queue for the one connection.
 */
function countingUsage(dialect: Dialect, usage: ConnectionUsage): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new CountingDriver(dialect.createDriver(), usage),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db) => dialect.createIntrospector(db),
  }
}

class CountingDriver implements Driver {
  constructor(
    private readonly driver: Driver,
    private readonly usage: ConnectionUsage,
  ) {}

  init(): Promise<void> {
    return this.driver.init()
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    this.usage.waiting += 1
    try {
      const connection = await this.driver.acquireConnection()
      this.usage.inUse += 1
      return connection
    } finally {
      this.usage.waiting -= 1
    }
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.driver.beginTransaction(connection, settings)
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.driver.commitTransaction(connection)
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.driver.rollbackTransaction(connection)
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    this.usage.inUse -= 1
    return this.driver.releaseConnection(connection)
  }

  destroy(): Promise<void> {
    return this.driver.destroy()
  }
}

/**
 * Closes Kysely and the PGlite under it. Kysely's destroy() is a no-op until the first query has
 * run, which would leave the PGlite open (and the database still answering) after close().
 */
export async function closePGlite(db: Db, pglite: PGlite): Promise<void> {
  await db.destroy()
  if (!pglite.closed) await pglite.close()
}

/**
 * `prepared: false` sends every statement unnamed, as a pooler in transaction mode needs; `lane`
 * sends statements that run on their own through pipelined connections (src/db/pipelined-lane.ts).
 */
export function kyselyOverPool(
  pool: pg.Pool,
  options: { prepared?: boolean; lane?: PipelinedLane } = {},
): Db {
  const prepared = options.prepared ?? true
  const wrapped =
    prepared || options.lane ? withPreparedStatements(pool, { prepared, lane: options.lane }) : pool
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: wrapped }) })
}

/** The lane of a pool, or none when DATABASE_PIPELINE_CONNECTIONS is 0. */
export function laneFor(
  connectionString: string,
  size: number,
  settings: PoolSettings,
): PipelinedLane | undefined {
  return size > 0
    ? createPipelinedLane(size, clientConfigOf(connectionString, settings), settings.logger)
    : undefined
}

export interface ConnectOptions {
  databaseUrl?: string
  databaseReadUrl?: string
  dataDir: string
  poolSize: number
  /** DATABASE_PREPARED_STATEMENTS: false behind PgBouncer in transaction mode (before 1.21). */
  preparedStatements?: boolean
  /** DATABASE_PIPELINE_CONNECTIONS: pipelined connections for statements on their own; 0 for none. */
  pipelineConnections?: number
  connectTimeoutMs?: number
  statementTimeoutMs?: number
  retries: number
  retryDelayMs: number
  logger: Logger
}

export class DatabaseUnreachable extends Error {
  constructor(attempts: number, cause: unknown) {
    super(`Database unreachable after ${attempts} attempt(s): ${describeConnectError(cause)}`, { cause })
    this.name = 'DatabaseUnreachable'
  }
}

function describeConnectError(error: unknown): string {
  if (error instanceof AggregateError) return error.errors.map(describeConnectError).join('; ')
  return error instanceof Error ? error.message || error.name : String(error)
}

/** Strips the password so a connection string can be logged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '<unparseable url>'
  }
}

async function waitForDatabase(db: Db, options: ConnectOptions, label: string): Promise<void> {
  const attempts = options.retries + 1
  for (let attempt = 1; ; attempt++) {
    try {
      await sql`select 1`.execute(db)
      return
    } catch (error) {
      if (attempt >= attempts) throw new DatabaseUnreachable(attempt, error)
      options.logger.warn(
        { attempt, of: attempts, database: label, err: describeConnectError(error) },
        `database not reachable, retrying in ${options.retryDelayMs} ms`,
      )
      await sleep(options.retryDelayMs)
    }
  }
}

/** Opens the primary (and replica) with the start-up retry policy of DB_CONNECT_RETRIES. */
export async function connectDatabase(options: ConnectOptions): Promise<DatabaseHandles> {
  if (!options.databaseUrl) {
    // Before PGlite touches the directory: a second process on it would lose writes.
    const lock = await lockDataDir(options.dataDir)
    const dataDir = path.resolve(options.dataDir, 'data')
    const pglite = await openPGlite({ dataDir }).catch((error: unknown) => {
      lock.release()
      throw error
    })
    const db = kyselyOverPGlite(pglite)
    options.logger.info({ dataDir }, 'using the embedded database (PGlite)')
    const close = () => closePGlite(db, pglite).finally(() => lock.release())
    return { db, readDb: db, kind: 'pglite', close }
  }
  const poolSettings: PoolSettings = {
    logger: options.logger,
    connectTimeoutMs: options.connectTimeoutMs,
    statementTimeoutMs: options.statementTimeoutMs,
  }
  const pool = createPostgresPool(options.databaseUrl, options.poolSize, poolSettings)
  const prepared = options.preparedStatements ?? true
  const laneSize = options.pipelineConnections ?? 0
  const lane = laneFor(options.databaseUrl, laneSize, poolSettings)
  const db = kyselyOverPool(pool, { prepared, lane })
  const readSettings: PoolSettings = { ...poolSettings, role: 'replica' }
  const readPool = options.databaseReadUrl
    ? createPostgresPool(options.databaseReadUrl, options.poolSize, readSettings)
    : null
  const readLane = options.databaseReadUrl
    ? laneFor(options.databaseReadUrl, laneSize, readSettings)
    : undefined
  const readDb = readPool ? kyselyOverPool(readPool, { prepared, lane: readLane }) : db
  const close = async () => {
    await db.destroy()
    if (readDb !== db) await readDb.destroy()
    await lane?.end()
    await readLane?.end()
  }
  try {
    await waitForDatabase(db, options, redactUrl(options.databaseUrl))
    if (options.databaseReadUrl && readDb !== db) {
      await waitForDatabase(readDb, options, redactUrl(options.databaseReadUrl))
    }
  } catch (error) {
    await close()
    throw error
  }
  options.logger.info({ database: redactUrl(options.databaseUrl) }, 'connected to PostgreSQL')
  return { db, readDb, kind: 'postgres', close }
}
