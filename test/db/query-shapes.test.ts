import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { QueryShapes } from '../../src/db/query-shapes.js'
import { createTestDatabase, type TestDatabase } from '../database.js'

describe('QueryShapes', () => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await createTestDatabase()
  })
  afterAll(() => database.close())

  const query = (id: never | string, limit: never | number) =>
    database.db
      .selectFrom('accounts')
      .select('id')
      .where('id', '=', id)
      .where('kind', '=', 'wallet')
      .limit(limit)

  it('builds a shape once and runs it with each call’s values, as the builder would compile them', async () => {
    const shapes = new QueryShapes()
    let builds = 0
    const run = (id: string, limit: number) =>
      shapes.compiled('probe', [id, limit], (slot) => {
        builds += 1
        return query(slot(0), slot(1))
      })
    const first = run('0190a9b0-0000-7000-8000-000000000001', 5)
    const second = run('0190a9b0-0000-7000-8000-000000000002', 7)
    expect(builds).toBe(1)
    const direct = query('0190a9b0-0000-7000-8000-000000000002', 7).compile()
    expect(second.sql).toBe(direct.sql)
    expect(second.parameters).toEqual(direct.parameters)
    expect(first.parameters).toEqual(['0190a9b0-0000-7000-8000-000000000001', 'wallet', 5])
    const { rows } = await database.db.executeQuery(second)
    expect(rows).toEqual([])
  })

  it('keeps each shape apart', () => {
    const shapes = new QueryShapes()
    const limited = shapes.compiled('limited', ['a', 3], (slot) => query(slot(0), slot(1)))
    const unlimited = shapes.compiled('unlimited', ['a'], (slot) =>
      database.db.selectFrom('accounts').select('id').where('id', '=', slot(0)),
    )
    expect(limited.sql).not.toBe(unlimited.sql)
    expect(unlimited.parameters).toEqual(['a'])
  })
})
