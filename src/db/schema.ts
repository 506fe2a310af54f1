/**
 * The database as Kysely sees it: each module declares its own tables and this interface joins
 * them, so modules never need each other's table types.
 */
import type { AuthTables } from '../auth/auth.tables.js'
import type { CurrenciesTables } from '../currencies/currencies.tables.js'
import type { FxTables } from '../fx/fx.tables.js'
import type { LedgerTables } from '../ledger/ledger.tables.js'
import type { OperationsTables } from '../operations/operations.tables.js'
import type { PointsTables } from '../points/points.tables.js'
import type { StatementsTables } from '../statements/statements.tables.js'
import type { WalletsTables } from '../wallets/wallets.tables.js'
import type { WebhooksTables } from '../webhooks/webhooks.tables.js'
import type { WorkerTables } from '../worker/worker.tables.js'

export interface Database
  extends AuthTables,
    LedgerTables,
    CurrenciesTables,
    FxTables,
    WalletsTables,
    OperationsTables,
    PointsTables,
    StatementsTables,
    WebhooksTables,
    WorkerTables {}
