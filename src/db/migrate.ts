import { type Kysely, type MigrationResultSet, Migrator, sql } from 'kysely'
import type { Logger } from 'pino'
import { migrations } from './migrations/index.js'

export class MigrationFailed extends Error {
  constructor(migration: string | undefined, cause: unknown) {
    super(
      `Migration ${migration ?? '(setup)'} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    )
    this.name = 'MigrationFailed'
  }
}

const MIGRATION_TABLE = 'coffer_migrations'

/** Names of the migrations not applied yet, read without any lock. */
export async function pendingMigrations<DB>(db: Kysely<DB>): Promise<string[]> {
  const { rows: table } = await sql<{ exists: boolean }>`
    select to_regclass(${MIGRATION_TABLE}) is not null as exists
  `.execute(db)
  const all = Object.keys(migrations)
  if (!table[0]?.exists) return all
  const { rows } = await sql<{ name: string }>`select name from coffer_migrations`.execute(db)
  const applied = new Set(rows.map((row) => row.name))
  return all.filter((name) => !applied.has(name))
}

/**
 * Applies every pending migration, if there is one. Kysely's Postgres adapter holds a session
 * advisory lock for the whole run, so two processes starting together on a direct connection
 * apply each migration once. Behind a pooler in transaction mode (PgBouncer) the lock and its
 * release can land on different server connections and leave the lock held: so a process only
 * takes it when a migration is pending (a plain read says so), and upgrades run `coffer migrate`
 * once, on a direct connection to the primary, before the new processes start
 * (docs/operations.md, "Upgrades and migrations").
 */
export async function migrateToLatest<DB>(db: Kysely<DB>, logger?: Logger): Promise<MigrationResultSet> {
  if ((await pendingMigrations(db)).length === 0) return { results: [] }
  const migrator = new Migrator({
    db: db as Kysely<unknown>,
    provider: { getMigrations: async () => migrations },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: 'coffer_migrations_lock',
  })
  const result = await migrator.migrateToLatest()
  for (const applied of result.results ?? []) {
    if (applied.status === 'Success') logger?.info({ migration: applied.migrationName }, 'migration applied')
  }
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName
    throw new MigrationFailed(failed, result.error)
  }
  return result
}
