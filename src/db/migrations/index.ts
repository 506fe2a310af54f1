import type { Migration } from 'kysely'
import * as m0001 from './0001_foundation.js'

/**
 * Forward-only, in order. Listed here rather than read from disk so the same set runs from
 * src/ under tsx and from dist/ after a build.
 */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
}
