import { createHash } from 'node:crypto'
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely'
import type pg from 'pg'
import type { PipelinedLane } from './pipelined-lane.js'

const MAX_PREPARED_TEXTS = 500
const PREPARABLE = /^\s*(select|insert|update|delete|with)\b/i

export interface PoolWrapOptions {
  /** Name statements so PostgreSQL plans each once per connection (off behind some poolers). */
  prepared: boolean
  /** Where a connection's first statement goes when it is not the start of a transaction. */
  lane?: PipelinedLane
}

/**
 * The pool Kysely's PostgresDialect sees, doing two things node-postgres's pool does not:
 *
 * - Kysely sends every statement unnamed, so PostgreSQL parses and plans each one on every
 *   request, the large posting statement included (pgbench: −32 % throughput for the same SQL).
 *   With `prepared`, each distinct data statement is named after a hash of its text, so
 *   node-postgres prepares it once per connection and later runs skip parse and plan. Coffer's
 *   statements have a fixed text (lists travel as array parameters), so the set stays small; past
 *   a cap, new texts run unnamed.
 * - With a `lane`, a connection is only checked out of the pool when it is needed: Kysely asks for
 *   a connection for every statement, and a statement on its own (not `begin`, not a cursor) goes
 *   to the pipelined lane instead. Coffer keeps no session state (no session advisory locks, no
 *   SET outside a transaction), so a statement on its own may run on any connection. A second
 *   statement on the same Kysely connection (db.connection(), which Coffer does not use) takes a
 *   pooled client from then on.
 */
export function withPreparedStatements(pool: pg.Pool, options: PoolWrapOptions): PostgresPool {
  const names = new Map<string, string>()
  const nameOf = (text: string): string | undefined => {
    if (!options.prepared) return undefined
    const known = names.get(text)
    if (known || names.size >= MAX_PREPARED_TEXTS || !PREPARABLE.test(text)) return known
    const name = `coffer_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`
    names.set(text, name)
    return name
  }
  const { lane } = options
  return {
    async connect(): Promise<PostgresPoolClient> {
      let client: pg.PoolClient | undefined = lane ? undefined : await pool.connect()
      let statements = 0
      const pooled = async (): Promise<pg.PoolClient> => {
        client ??= await pool.connect()
        return client
      }
      const run = async <R>(
        sql: string,
        parameters: ReadonlyArray<unknown>,
      ): Promise<PostgresQueryResult<R>> => {
        statements += 1
        const name = nameOf(sql)
        const values = [...parameters]
        if (lane && !client && statements === 1 && PREPARABLE.test(sql)) {
          return (await lane.query(sql, values, name)) as unknown as PostgresQueryResult<R>
        }
        const target = await pooled()
        const result = name ? target.query({ name, text: sql, values }) : target.query(sql, values)
        return (await result) as unknown as PostgresQueryResult<R>
      }
      function query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>
      function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>
      function query<R>(
        sqlOrCursor: string | PostgresCursor<R>,
        parameters?: ReadonlyArray<unknown>,
      ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
        if (typeof sqlOrCursor === 'string') return run<R>(sqlOrCursor, parameters ?? [])
        statements += 1
        const cursor = sqlOrCursor
        if (client) return client.query(cursor as never) as PostgresCursor<R>
        // Kysely reads a cursor it gets back at once; it is submitted once the client is checked out.
        const submitted = pooled().then((target) => target.query(cursor as never) as PostgresCursor<R>)
        return {
          read: async (rowCount: number) => (await submitted).read(rowCount),
          close: async () => (await submitted).close(),
        }
      }
      return { query, release: () => client?.release() }
    },
    end: () => pool.end(),
  }
}
