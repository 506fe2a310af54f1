import type { Migration } from 'kysely'
import * as m0001 from './0001_foundation.js'
import * as m0002 from './0002_auth.js'
import * as m0003 from './0003_ledger.js'
import * as m0004 from './0004_holds.js'
import * as m0005 from './0005_currencies_fx.js'
import * as m0006 from './0006_system_account_references.js'
import * as m0007 from './0007_history_cursor_keys.js'
import * as m0008 from './0008_operations.js'
import * as m0009 from './0009_outbox_sequence.js'
import * as m0010 from './0010_webhooks.js'
import * as m0011 from './0011_account_versions.js'
import * as m0012 from './0012_points.js'
import * as m0013 from './0013_points_commands.js'
import * as m0014 from './0014_statements.js'
import * as m0015 from './0015_worker_job_leases.js'
import * as m0016 from './0016_dead_letter_indexes.js'

/**
 * Forward-only, in order. Listed here rather than read from disk so the same set runs from
 * src/ under tsx and from dist/ after a build.
 */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
  '0002_auth': m0002,
  '0003_ledger': m0003,
  '0004_holds': m0004,
  '0005_currencies_fx': m0005,
  '0006_system_account_references': m0006,
  '0007_history_cursor_keys': m0007,
  '0008_operations': m0008,
  '0009_outbox_sequence': m0009,
  '0010_webhooks': m0010,
  '0011_account_versions': m0011,
  '0012_points': m0012,
  '0013_points_commands': m0013,
  '0014_statements': m0014,
  '0015_worker_job_leases': m0015,
  '0016_dead_letter_indexes': m0016,
}
