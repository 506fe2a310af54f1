import { setTimeout as sleep } from 'node:timers/promises'
import type { PGlite } from '@electric-sql/pglite'
import { sql, type Transaction } from 'kysely'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { closePGlite, type Db, kyselyOverPGlite, openPGlite } from '../../src/db/database.js'
import type { Database } from '../../src/db/schema.js'

// PGlite is one session: these tests hold transactions open across awaits, where an unguarded
// driver would let the other caller's statements run inside them.
describe('PGliteDialect', () => {
  let pglite: PGlite
  let db: Db

  beforeAll(async () => {
    pglite = await openPGlite({})
    db = kyselyOverPGlite(pglite)
    await sql`create table probe_rows (id serial primary key, owner text not null)`.execute(db)
  })

  afterAll(async () => {
    await closePGlite(db, pglite)
  })

  beforeEach(async () => {
    await sql`truncate probe_rows`.execute(db)
  })

  const insert = (executor: Db | Transaction<Database>, owner: string) =>
    sql`insert into probe_rows (owner) values (${owner})`.execute(executor)

  const rowCount = async (executor: Db | Transaction<Database>) => {
    const result = await sql<{ rows: number }>`select count(*)::int as rows from probe_rows`.execute(executor)
    return result.rows[0]?.rows
  }

  const owners = async () => {
    const result = await sql<{ owner: string }>`select owner from probe_rows order by owner`.execute(db)
    return result.rows.map((row) => row.owner)
  }

  it('runs concurrent transactions one after the other, each seeing only its own insert', async () => {
    const insertAndCount = (owner: string) =>
      db.transaction().execute(async (trx) => {
        const before = await rowCount(trx)
        await insert(trx, owner)
        await sleep(20)
        return { before, after: await rowCount(trx) }
      })

    const [first, second] = await Promise.all([insertAndCount('first'), insertAndCount('second')])

    expect(first).toEqual({ before: 0, after: 1 })
    expect(second).toEqual({ before: 1, after: 2 })
    expect(await owners()).toEqual(['first', 'second'])
  })

  it("rolls back a failed transaction without undoing another transaction's commit", async () => {
    const failing = db.transaction().execute(async (trx) => {
      await insert(trx, 'doomed')
      await sleep(10)
      throw new Error('abort the transfer')
    })
    const committing = db.transaction().execute(async (trx) => {
      await insert(trx, 'kept')
      await sleep(30)
    })

    const [failed, committed] = await Promise.allSettled([failing, committing])

    expect(failed.status).toBe('rejected')
    expect(committed.status).toBe('fulfilled')
    expect(await owners()).toEqual(['kept'])
  })

  it('keeps a statement issued outside a transaction out of it', async () => {
    let markInserted!: () => void
    const inserted = new Promise<void>((resolve) => {
      markInserted = resolve
    })
    const failing = db.transaction().execute(async (trx) => {
      await insert(trx, 'doomed')
      markInserted()
      await sleep(30)
      throw new Error('abort the transfer')
    })
    await inserted
    const outside = insert(db, 'outside')

    const [failed] = await Promise.allSettled([failing, outside])

    expect(failed.status).toBe('rejected')
    expect(await owners()).toEqual(['outside'])
  })
})
