import { createHash } from 'node:crypto'
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely'
import type pg from 'pg'

const MAX_PREPARED_TEXTS = 500
const PREPARABLE = /^\s*(select|insert|update|delete|with)\b/i

/**
 * Kysely sends every statement unnamed, so PostgreSQL parses and plans each one on every request,
 * the large posting statement included (pgbench: −32 % throughput for the same SQL). This pool
 * names each distinct data statement after a hash of its text, so node-postgres prepares it once
 * per connection and later runs skip parse and plan. Coffer's statements have a fixed text (lists
 * travel as array parameters), so the set stays small; past a cap, new texts run unnamed.
 */
export function withPreparedStatements(pool: pg.Pool): PostgresPool {
  const names = new Map<string, string>()
  const nameOf = (text: string): string | undefined => {
    const known = names.get(text)
    if (known || names.size >= MAX_PREPARED_TEXTS || !PREPARABLE.test(text)) return known
    const name = `coffer_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`
    names.set(text, name)
    return name
  }
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect()
      function query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>
      function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>
      function query<R>(
        sqlOrCursor: string | PostgresCursor<R>,
        parameters?: ReadonlyArray<unknown>,
      ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
        if (typeof sqlOrCursor !== 'string') return client.query(sqlOrCursor as never) as PostgresCursor<R>
        const name = nameOf(sqlOrCursor)
        const values = [...(parameters ?? [])]
        const result = name
          ? client.query({ name, text: sqlOrCursor, values })
          : client.query(sqlOrCursor, values)
        return result as unknown as Promise<PostgresQueryResult<R>>
      }
      return { query, release: () => client.release() }
    },
    end: () => pool.end(),
  }
}
