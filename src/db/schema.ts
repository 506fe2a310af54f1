/**
 * The database as Kysely sees it: each module declares its own tables and this interface joins
 * them, so modules never need each other's table types.
 */
// biome-ignore lint/suspicious/noEmptyInterface: modules extend this as they add tables
export interface Database {}
