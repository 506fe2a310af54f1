import { PGlite } from '@electric-sql/pglite'
import { sql } from 'kysely'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { createPostgresPool, kyselyOverPGlite, kyselyOverPool } from '../../src/db/database.js'
import { isDatabaseUnavailable } from '../../src/db/unavailable.js'
import { TEST_DATABASE_URL, testShape } from '../shape.js'

/** The error a promise rejects with; fails the test if it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

const itOnPostgres = testShape() === 'services' ? it : () => undefined

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code })

describe('isDatabaseUnavailable', () => {
  it('knows the SQLSTATEs of a server that cannot serve now', () => {
    for (const code of ['08000', '08003', '08006', '08001', '08P01', '57P01', '57P02', '57P03', '53300']) {
      expect(isDatabaseUnavailable(withCode(code)), code).toBe(true)
    }
  })

  it('does not take a refused statement for an outage: a retry would fail the same way', () => {
    for (const code of ['23505', '23514', '40001', '40P01', '42P01', '22021', '57014', '53200']) {
      expect(isDatabaseUnavailable(withCode(code)), code).toBe(false)
    }
    expect(isDatabaseUnavailable(new Error('boom'))).toBe(false)
    expect(isDatabaseUnavailable(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(
      false,
    )
    expect(isDatabaseUnavailable(undefined)).toBe(false)
    expect(isDatabaseUnavailable('Connection terminated')).toBe(false)
  })

  it('knows socket errors, pg and pg-pool messages, and follows causes and aggregates', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']) {
      expect(isDatabaseUnavailable(withCode(code)), code).toBe(true)
    }
    for (const message of [
      'Connection terminated unexpectedly',
      'Connection terminated due to connection timeout',
      'timeout exceeded when trying to connect',
      'Client has encountered a connection error and is not queryable',
      'PGlite is closed',
    ]) {
      expect(isDatabaseUnavailable(new Error(message)), message).toBe(true)
    }
    expect(isDatabaseUnavailable(new Error('wrapped', { cause: withCode('57P03') }))).toBe(true)
    expect(
      isDatabaseUnavailable(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')])),
    ).toBe(true)
    // One address refused and one answered with a real error: that error is the answer.
    expect(isDatabaseUnavailable(new AggregateError([withCode('ECONNREFUSED'), withCode('28P01')]))).toBe(
      false,
    )
    const loop: Error & { cause?: unknown } = new Error('loop')
    loop.cause = loop
    expect(isDatabaseUnavailable(loop)).toBe(false)
  })

  it("recognises PGlite's WASM instance aborted", () => {
    const { RuntimeError } = (globalThis as unknown as { WebAssembly: { RuntimeError: ErrorConstructor } })
      .WebAssembly
    expect(isDatabaseUnavailable(new RuntimeError('Aborted(OOM)'))).toBe(true)
  })

  it('recognises what a closed PGlite throws', async () => {
    const pglite = await PGlite.create()
    const db = kyselyOverPGlite(pglite)
    await sql`select 1`.execute(db)
    await pglite.close()
    expect(isDatabaseUnavailable(await rejectionOf(sql`select 1`.execute(db)))).toBe(true)
  })

  it('recognises a PostgreSQL port where nothing listens, and a pool that cannot connect in time', async () => {
    const url = new URL(TEST_DATABASE_URL)
    url.port = '1'
    const refused = kyselyOverPool(createPostgresPool(url.toString(), 1, { connectTimeoutMs: 2000 }))
    try {
      expect(isDatabaseUnavailable(await rejectionOf(sql`select 1`.execute(refused)))).toBe(true)
    } finally {
      await refused.destroy()
    }
  })

  // A real 57P01 needs a real server to end a session: registered in the services shape only.
  itOnPostgres('recognises a session ended by the server (57P01)', async () => {
    const victim = new pg.Client({ connectionString: TEST_DATABASE_URL })
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
    await Promise.all([victim.connect(), admin.connect()])
    victim.on('error', () => undefined)
    try {
      const { rows } = await victim.query<{ pid: number }>('select pg_backend_pid() as pid')
      const sleeping = rejectionOf(victim.query('select pg_sleep(30)'))
      await new Promise((resolve) => setTimeout(resolve, 200))
      await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid])
      const error = await sleeping
      expect((error as { code?: string }).code).toBe('57P01')
      expect(isDatabaseUnavailable(error)).toBe(true)
    } finally {
      await admin.end()
      await victim.end().catch(() => undefined)
    }
  })
})
