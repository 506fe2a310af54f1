import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresPool, type Db, kyselyOverPool, laneFor } from '../../src/db/database.js'
import type { PipelinedLane } from '../../src/db/pipelined-lane.js'
import { isDatabaseUnavailable } from '../../src/db/unavailable.js'
import { createTestDatabase, type TestDatabase, withAdmin } from '../database.js'
import { testShape } from '../shape.js'

/**
 * The pipelined lane (DATABASE_PIPELINE_CONNECTIONS) on a real PostgreSQL: statements on their own
 * share two connections, transactions keep a pooled connection of their own, one
 * failing statement leaves its neighbours alone, and a connection killed under the lane fails only
 * the statements on it, as "database unavailable", and is replaced.
 */
describe.runIf(testShape() === 'services')('the pipelined lane', () => {
  let database: TestDatabase
  let lane: PipelinedLane
  let db: Db

  beforeAll(async () => {
    database = await createTestDatabase()
    lane = laneFor(database.url!, 2, {})!
    db = kyselyOverPool(createPostgresPool(database.url!, 4), { lane })
  })

  afterAll(async () => {
    await db?.destroy()
    await lane?.end()
    await database?.close()
  })

  const backendPid = async (on: Db = db): Promise<number> => {
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(on)
    return rows[0]!.pid
  }

  it('answers each of many concurrent statements with its own rows, on at most two connections', async () => {
    const answers = await Promise.all(
      Array.from({ length: 500 }, async (_, i) => {
        const { rows } = await sql<{
          n: number
          pid: number
        }>`select ${i}::int as n, pg_backend_pid() as pid`.execute(db)
        return rows[0]!
      }),
    )
    expect(answers.map((answer) => answer.n)).toEqual(Array.from({ length: 500 }, (_, i) => i))
    expect(new Set(answers.map((answer) => answer.pid)).size).toBeLessThanOrEqual(2)
  })

  it('runs a transaction on a pooled connection of its own, never on the lane', async () => {
    const lanePids = new Set(await Promise.all(Array.from({ length: 20 }, () => backendPid())))
    const inside = await db.transaction().execute(async (trx) => {
      const first = await backendPid(trx as unknown as Db)
      const second = await backendPid(trx as unknown as Db)
      const { rows } = await sql<{ open: boolean }>`select now() = statement_timestamp() as open`.execute(trx)
      return { first, second, sameInstant: rows[0]!.open }
    })
    expect(inside.first).toBe(inside.second)
    expect(lanePids.has(inside.first)).toBe(false)
    // Inside one transaction now() stays the transaction's start, so the statements were one transaction.
    expect(inside.sameInstant).toBe(false)
  })

  it('rolls a failed transaction back on its own connection', async () => {
    await sql`create table if not exists lane_probe (id int primary key)`.execute(db)
    await expect(
      db.transaction().execute(async (trx) => {
        await sql`insert into lane_probe values (1)`.execute(trx)
        throw new Error('changed my mind')
      }),
    ).rejects.toThrow('changed my mind')
    const { rows } = await sql<{ n: string }>`select count(*)::text as n from lane_probe`.execute(db)
    expect(rows[0]!.n).toBe('0')
  })

  it('fails only the statement that fails, not the ones pipelined beside it', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        i % 3 === 0
          ? sql`select 1 / (${i}::int - ${i}::int) as boom`.execute(db)
          : sql<{ n: number }>`select ${i}::int as n`.execute(db),
      ),
    )
    outcomes.forEach((outcome, i) => {
      if (i % 3 === 0) {
        expect(outcome.status).toBe('rejected')
        expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: '22012' })
      } else {
        expect(outcome).toMatchObject({ status: 'fulfilled', value: { rows: [{ n: i }] } })
      }
    })
  })

  it('fails the statements of a killed connection as unavailable and replaces the connection', async () => {
    const victim = await backendPid()
    // Settled from the start: the failures arrive while the kill is still being sent.
    const slow = Promise.allSettled(
      Array.from({ length: 10 }, () => sql`select pg_sleep(0.2), pg_backend_pid() as pid`.execute(db)),
    )
    await new Promise((resolve) => setTimeout(resolve, 100))
    await withAdmin((admin) =>
      admin.query('select pg_terminate_backend(pid) from pg_stat_activity where pid = $1', [victim]),
    )
    const outcomes = await slow
    const failed = outcomes.filter(
      (outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected',
    )
    expect(failed.length).toBeGreaterThan(0)
    for (const failure of failed) expect(isDatabaseUnavailable(failure.reason)).toBe(true)
    const after = await Promise.all(Array.from({ length: 10 }, () => backendPid()))
    expect(after).not.toContain(victim)
  })
})
