import { type Kysely, type MigrationResultSet, Migrator } from 'kysely'
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

/**
 * Applies every pending migration. Kysely's Postgres adapter holds a session advisory lock for
 * the whole run, so two processes starting together apply each migration once.
 */
export async function migrateToLatest<DB>(db: Kysely<DB>, logger?: Logger): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db: db as Kysely<unknown>,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'coffer_migrations',
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
