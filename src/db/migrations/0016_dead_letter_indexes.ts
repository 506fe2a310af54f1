import { type Kysely, sql } from 'kysely'

/**
 * The operators' overview (GET /api/v1/operations/overview) counts and lists what failed for good
 * and what still waits. Operations and webhook deliveries are mostly settled rows, so without
 * these partial indexes each look would scan both tables whole; with them it reads only the rows
 * that are not settled, and they stay small.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create index operations_unsettled on operations (status, updated_at desc)
    where status in ('accepted', 'failed')
  `.execute(db)
  await sql`
    create index webhook_deliveries_failed on webhook_deliveries (completed_at desc)
    where status = 'failed'
  `.execute(db)
}
