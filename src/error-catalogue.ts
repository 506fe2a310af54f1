/**
 * Every error the API answers with, complete as soon as this module is imported: it imports each
 * `*.errors.ts` that declares errors, by name, rather than letting definitions register themselves
 * as a side effect of whichever modules happen to be loaded. test/errors-doc.test.ts fails when an
 * errors file is missing here, and keeps the catalogue and docs/errors.md in step.
 */

import * as authErrors from './auth/auth.errors.js'
import * as batchesErrors from './batches/batches.errors.js'
import * as currenciesErrors from './currencies/currencies.errors.js'
import { AppError, type DefinedError, type ErrorDefinition } from './errors.js'
import * as fxErrors from './fx/fx.errors.js'
import * as httpErrors from './http/http.errors.js'
import * as httpIdempotencyErrors from './http/idempotency.errors.js'
import * as inputErrors from './http/input.errors.js'
import * as moneyErrors from './http/money.errors.js'
import * as ledgerIdempotencyErrors from './ledger/idempotency.errors.js'
import * as ledgerErrors from './ledger/ledger.errors.js'
import * as operationsErrors from './operations/operations.errors.js'
import * as paginationErrors from './pagination.errors.js'
import * as paymentsErrors from './payments/payments.errors.js'
import * as pointsErrors from './points/points.errors.js'
import * as statementsErrors from './statements/statements.errors.js'
import * as walletsErrors from './wallets/wallets.errors.js'
import * as webhooksErrors from './webhooks/webhooks.errors.js'

const ERROR_MODULES: readonly object[] = [
  authErrors,
  batchesErrors,
  currenciesErrors,
  fxErrors,
  httpErrors,
  httpIdempotencyErrors,
  inputErrors,
  moneyErrors,
  ledgerIdempotencyErrors,
  ledgerErrors,
  operationsErrors,
  paginationErrors,
  paymentsErrors,
  pointsErrors,
  statementsErrors,
  walletsErrors,
  webhooksErrors,
]

function isDefinedError(value: unknown): value is DefinedError<unknown> {
  return typeof value === 'function' && value.prototype instanceof AppError
}

/**
 * The definitions exported by `modules`, sorted by code. Two definitions of one code are refused:
 * a code means one thing, so a second path to it imports the first definition.
 */
export function catalogueOf(modules: readonly object[]): ErrorDefinition[] {
  const byCode = new Map<string, ErrorDefinition>()
  for (const module of modules) {
    for (const value of Object.values(module)) {
      if (!isDefinedError(value)) continue
      const { definition } = value
      const existing = byCode.get(definition.code)
      if (existing && existing !== definition) {
        throw new Error(`error code ${definition.code} is defined twice; define it once and import it`)
      }
      byCode.set(definition.code, definition)
    }
  }
  return [...byCode.values()].sort((a, b) => a.code.localeCompare(b.code))
}

const catalogue = catalogueOf(ERROR_MODULES)

export function errorCatalogue(): ErrorDefinition[] {
  return [...catalogue]
}
