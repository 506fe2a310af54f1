import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import {
  closePGlite,
  createPostgresPool,
  type Db,
  kyselyOverPGlite,
  kyselyOverPool,
  openPGlite,
} from '../../src/db/database.js'
import { migrateToLatest, pendingMigrations } from '../../src/db/migrate.js'
import { migrations } from '../../src/db/migrations/index.js'
import { withAdmin } from '../database.js'
import { databaseUrlFor, testShape } from '../shape.js'

interface EmptyDatabase {
  /** What each of the two racing migrators connects through. */
  first: Db
  second: Db
  close(): Promise<void>
}

/**
 * A database with no tables at all, so the race covers creating the migration tables too.
 * PostgreSQL: two pools, as two processes starting together would have. PGlite has one
 * connection per process, so both migrators share it, as the API and worker of `coffer start` do.
 */
async function emptyDatabase(): Promise<EmptyDatabase> {
  if (testShape() === 'embedded') {
    const pglite = await openPGlite({})
    const db = kyselyOverPGlite(pglite)
    return { first: db, second: db, close: () => closePGlite(db, pglite) }
  }
  const name = `coffer_migrate_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  await withAdmin((admin) => admin.query(`create database ${name}`))
  const first = kyselyOverPool(createPostgresPool(databaseUrlFor(name), 2))
  const second = kyselyOverPool(createPostgresPool(databaseUrlFor(name), 2))
  return {
    first,
    second,
    close: async () => {
      await first.destroy()
      await second.destroy()
      await withAdmin((admin) => admin.query(`drop database if exists ${name} with (force)`))
    },
  }
}

describe('migrateToLatest', () => {
  it('takes no lock when nothing is pending, so a process starting behind PgBouncer never holds one', async () => {
    const database = await emptyDatabase()
    try {
      expect(await pendingMigrations(database.first)).toEqual(Object.keys(migrations))
      await migrateToLatest(database.first)
      if (testShape() === 'services') {
        // The migrator's session lock is held by nobody now; a start-up with nothing pending
        // must not take it either (it would stick to a pooled server connection).
        const held = async () =>
          (
            await sql<{
              n: number
            }>`select count(*)::int as n from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`.execute(
              database.first,
            )
          ).rows[0]!.n
        expect(await held()).toBe(0)
        const started = await migrateToLatest(database.second)
        expect(started.results).toEqual([])
        expect(await held()).toBe(0)
      }
    } finally {
      await database.close()
    }
  })

  it('applies each migration exactly once when two runs race on an empty database', async () => {
    const database = await emptyDatabase()
    try {
      const outcomes = await Promise.all([migrateToLatest(database.first), migrateToLatest(database.second)])

      const expected = Object.keys(migrations).sort()
      const applied = outcomes
        .flatMap((outcome) => outcome.results ?? [])
        .filter((result) => result.status === 'Success')
        .map((result) => result.migrationName)
      expect(applied.sort()).toEqual(expected)

      const recorded = await sql<{ name: string }>`select name from coffer_migrations order by name`.execute(
        database.first,
      )
      expect(recorded.rows.map((row) => row.name)).toEqual(expected)

      const again = await migrateToLatest(database.second)
      expect(again.results).toEqual([])
      expect(await pendingMigrations(database.second)).toEqual([])
    } finally {
      await database.close()
    }
  })
})
