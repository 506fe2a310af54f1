import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import pg from 'pg'
import { inject } from 'vitest'
import {
  closePGlite,
  createPostgresPool,
  type DatabaseHandles,
  kyselyOverPGlite,
  kyselyOverPool,
  laneFor,
  openPGlite,
} from '../src/db/database.js'
import { databaseUrlFor, TEST_DATABASE_URL, testShape } from './shape.js'

export interface TestDatabase extends DatabaseHandles {
  /** The connection URL of a PostgreSQL test database (services shape only). */
  url: string | null
}

/** A fresh, migrated database of the current shape; close() drops it. */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (testShape() === 'embedded') {
    const dump = await readFile(inject('pgliteTemplate'))
    const pglite = await openPGlite({ loadDataDir: new Blob([dump]) })
    const db = kyselyOverPGlite(pglite)
    return { db, readDb: db, kind: 'pglite', url: null, close: () => closePGlite(db, pglite) }
  }
  const name = `coffer_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  await withAdmin((admin) => admin.query(`create database ${name} template ${inject('postgresTemplate')}`))
  const url = databaseUrlFor(name)
  // The pipelined lane as the server runs it (DATABASE_PIPELINE_CONNECTIONS), so every test
  // sends its statements on their own through it.
  const lane = laneFor(url, 2, {})
  const db = kyselyOverPool(createPostgresPool(url, 30), { lane })
  return {
    db,
    readDb: db,
    kind: 'postgres',
    url,
    close: async () => {
      await db.destroy()
      await lane?.end()
      await withAdmin((admin) => admin.query(`drop database if exists ${name} with (force)`))
    },
  }
}

/** Runs `work` on a connection to the server's admin database (create and drop databases). */
export async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await admin.connect()
  try {
    return await work(admin)
  } finally {
    await admin.end()
  }
}
