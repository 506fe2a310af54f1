import { randomUUID } from 'node:crypto'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import { withAdmin } from '../database.js'
import { command, freePort, until } from '../faults/support/processes.js'

/**
 * A streaming replica of the shared local primary (127.0.0.1:5432): a second Debian cluster on a
 * free port whose data directory is replaced by `pg_basebackup -R -X stream -c fast`, so it is a hot
 * standby that replays the primary's WAL. Dropped with `pg_dropcluster --stop`.
 */
export interface Replica {
  cluster: string
  port: number
  /** The replica's URL for `database`. */
  urlFor(database: string): string
  /** `xact_commit` and `tup_returned` of `database` on the replica (read from its `postgres` database). */
  stats(database: string): Promise<{ xactCommit: number; tupReturned: number }>
  drop(): Promise<void>
}

const VERSION = '15'
/** The line the test adds when the primary refuses replication connections from 127.0.0.1. */
const REPLICATION_LINE = 'host replication postgres 127.0.0.1/32 trust # coffer cluster test'

const asPostgres = (file: string, args: string[]) =>
  process.getuid?.() === 0 ? command('runuser', ['-u', 'postgres', '--', file, ...args]) : command(file, args)

/**
 * Makes sure the primary accepts replication connections from 127.0.0.1 for postgres. When its
 * pg_hba.conf has no such rule, adds REPLICATION_LINE and reloads; returns an undo for that, or
 * null when nothing was changed.
 */
export async function allowReplication(): Promise<{ added: string; undo: () => Promise<void> } | null> {
  const hbaFile = await withAdmin(
    async (admin) => (await admin.query<{ hba_file: string }>('show hba_file')).rows[0]!.hba_file,
  )
  const rules = await withAdmin(
    async (admin) =>
      (
        await admin.query<{ n: number }>(
          `select count(*)::int as n from pg_hba_file_rules
           where type = 'host' and 'replication' = any(database)
             and ('all' = any(user_name) or 'postgres' = any(user_name))
             and (address = '127.0.0.1' or address = 'all' or address = '0.0.0.0')`,
        )
      ).rows[0]!.n,
  )
  if (rules > 0) return null
  const before = await readFile(hbaFile, 'utf8')
  await writeFile(hbaFile, `${REPLICATION_LINE}\n${before}`)
  await withAdmin((admin) => admin.query('select pg_reload_conf()'))
  return {
    added: `${hbaFile}: ${REPLICATION_LINE}`,
    undo: async () => {
      const now = await readFile(hbaFile, 'utf8')
      await writeFile(hbaFile, now.replace(`${REPLICATION_LINE}\n`, ''))
      await withAdmin((admin) => admin.query('select pg_reload_conf()'))
    },
  }
}

export async function startReplica(): Promise<Replica> {
  const cluster = `coffer_replica_${randomUUID().replaceAll('-', '').slice(0, 8)}`
  const port = await freePort()
  const drop = () =>
    command('pg_dropcluster', ['--stop', VERSION, cluster]).then(
      () => undefined,
      () => undefined,
    )
  try {
    await command('pg_createcluster', [VERSION, cluster, '-p', String(port)])
    const dataDir = `/var/lib/postgresql/${VERSION}/${cluster}`
    // Trust on loopback, as the primary here; Debian's default would ask for a password.
    await writeFile(
      `/etc/postgresql/${VERSION}/${cluster}/pg_hba.conf`,
      'local all all trust\nhost all all 127.0.0.1/32 trust\n',
    )
    // Emptied, not removed: its parent belongs to root, and pg_basebackup fills an empty directory.
    for (const entry of await readdir(dataDir))
      await rm(join(dataDir, entry), { recursive: true, force: true })
    await asPostgres('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      '5432',
      '-U',
      'postgres',
      '-D',
      dataDir,
      '-R',
      '-X',
      'stream',
      // A fast checkpoint: a spread one can take minutes to begin the copy.
      '-c',
      'fast',
    ])
    await command('pg_ctlcluster', ['--skip-systemctl-redirect', VERSION, cluster, 'start'])
    await until(
      async () => {
        const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' })
        await client.connect()
        try {
          return (await client.query<{ r: boolean }>('select pg_is_in_recovery() as r')).rows[0]!.r
        } finally {
          await client.end()
        }
      },
      `replica ${cluster} in recovery on port ${port}`,
      60_000,
    )
  } catch (error) {
    await drop()
    throw error
  }
  return {
    cluster,
    port,
    urlFor: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    stats: async (database) => {
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' })
      await client.connect()
      try {
        const { rows } = await client.query<{ x: string; t: string }>(
          'select xact_commit::text as x, tup_returned::text as t from pg_stat_database where datname = $1',
          [database],
        )
        return { xactCommit: Number(rows[0]?.x ?? 0), tupReturned: Number(rows[0]?.t ?? 0) }
      } finally {
        await client.end()
      }
    },
    drop,
  }
}
