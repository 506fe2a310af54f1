import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'

/** The URL of another database on the same server. */
export function databaseUrlFor(serverUrl: string, database: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

export function redactUrl(url: string): string {
  const parsed = new URL(url)
  if (parsed.password) parsed.password = '***'
  return parsed.toString()
}

export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

const SAFE_NAME = /^[a-z_][a-z0-9_]*$/

export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe database name ${name}`)
  await withClient(serverUrl, (client) => client.query(`create database ${name}`))
  return databaseUrlFor(serverUrl, name)
}

/**
 * Drops the database. Sessions that are closing get a few seconds to go (killing a pool's
 * connection while it ends makes the pool throw); any still there then are ended by force.
 */
export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe database name ${name}`)
  await withClient(serverUrl, async (client) => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const { rows } = await client.query<{ sessions: number }>(
        'select count(*)::int as sessions from pg_stat_activity where datname = $1',
        [name],
      )
      if ((rows[0]?.sessions ?? 0) === 0) break
      await sleep(100)
    }
    await client.query(`drop database if exists ${name} with (force)`)
  })
}

/**
 * Flushes dirty buffers between runs, so one run's checkpoint does not land in the next one's
 * figures. Needs superuser or pg_checkpoint; without either the runs just share the noise.
 */
export async function checkpoint(url: string): Promise<boolean> {
  try {
    await withClient(url, (client) => client.query('checkpoint'))
    return true
  } catch {
    return false
  }
}

export async function serverVersion(url: string): Promise<string> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ server_version: string }>('show server_version')
    return rows[0]?.server_version ?? 'unknown'
  })
}

export interface DatabaseCounters {
  commits: number
  rollbacks: number
  /** Cluster-wide WAL written since the server started (pg_stat_wal, PostgreSQL 14+). */
  walBytes: number | null
}

/**
 * Commit and WAL counters, to express a run per request. PostgreSQL publishes a backend's counts
 * within about a second of its transactions, so take the second snapshot a moment after the load.
 */
export async function databaseCounters(url: string): Promise<DatabaseCounters | null> {
  try {
    return await withClient(url, async (client) => {
      const { rows } = await client.query<{ commits: string; rollbacks: string }>(
        'select xact_commit as commits, xact_rollback as rollbacks from pg_stat_database where datname = current_database()',
      )
      const wal = await client
        .query<{ wal_bytes: string }>('select wal_bytes from pg_stat_wal')
        .then((r) => Number(r.rows[0]?.wal_bytes))
        .catch(() => null)
      return { commits: Number(rows[0]?.commits), rollbacks: Number(rows[0]?.rollbacks), walBytes: wal }
    })
  } catch {
    return null
  }
}
