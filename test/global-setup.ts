import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import pg from 'pg'
import type { TestProject } from 'vitest/node'
import { createPostgresPool, kyselyOverPGlite, kyselyOverPool, openPGlite } from '../src/db/database.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { databaseUrlFor, TEST_DATABASE_URL, testShape } from './shape.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Embedded shape: a migrated PGlite data directory, dumped once and loaded by every test file. */
    pgliteTemplate: string
    /** Services shape: a migrated database that each test file copies with CREATE DATABASE ... TEMPLATE. */
    postgresTemplate: string
  }
}

/**
 * Migrates one template database per run, so a test file gets a fresh migrated database in about
 * a second (PGlite) or a few milliseconds (PostgreSQL) instead of migrating its own.
 */
export default async function setup(project: TestProject) {
  if (testShape() === 'embedded') {
    const pglite = await openPGlite({})
    const db = kyselyOverPGlite(pglite)
    await migrateToLatest(db)
    const dump = await pglite.dumpDataDir('none')
    await db.destroy()
    const dir = path.resolve('.tmp')
    await mkdir(dir, { recursive: true })
    const file = path.join(dir, `pglite-template-${process.pid}.tar`)
    await writeFile(file, Buffer.from(await dump.arrayBuffer()))
    project.provide('pgliteTemplate', file)
    project.provide('postgresTemplate', '')
    return
  }

  const template = `coffer_template_${process.pid}`
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await admin.connect()
  await admin.query(`drop database if exists ${template}`)
  await admin.query(`create database ${template}`)
  const pool = createPostgresPool(databaseUrlFor(template), 2)
  const db = kyselyOverPool(pool)
  await migrateToLatest(db)
  await db.destroy()
  project.provide('postgresTemplate', template)
  project.provide('pgliteTemplate', '')

  return async () => {
    await admin.query(`drop database if exists ${template} with (force)`)
    await admin.end()
  }
}
