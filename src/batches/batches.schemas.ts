import { type Static, Type } from 'typebox'
import { PurchaseBody } from '../payments/payments.schemas.js'
import { LedgerTransaction, MovementBody, TransferBody } from '../wallets/wallets.schemas.js'

/** The most movements one batch may carry. */
export const MAX_BATCH_ITEMS = 1000

const IdempotencyKey = Type.String({
  minLength: 1,
  maxLength: 255,
  pattern: '^[\\x21-\\x7e]+$',
  description:
    "This movement's own key, as the Idempotency-Key of a single request: a retry of the batch, or of this movement alone through its own route, replays its answer",
})

const Uuid = Type.String({ format: 'uuid' })

export const DepositItem = Type.Object(
  {
    type: Type.Literal('deposit'),
    idempotencyKey: IdempotencyKey,
    walletId: Uuid,
    ...MovementBody.properties,
  },
  { $id: 'BatchDeposit', additionalProperties: false, description: 'As POST /wallets/{walletId}/deposits' },
)
export const WithdrawalItem = Type.Object(
  {
    type: Type.Literal('withdrawal'),
    idempotencyKey: IdempotencyKey,
    walletId: Uuid,
    ...MovementBody.properties,
  },
  {
    $id: 'BatchWithdrawal',
    additionalProperties: false,
    description: 'As POST /wallets/{walletId}/withdrawals',
  },
)
export const TransferItem = Type.Object(
  { type: Type.Literal('transfer'), idempotencyKey: IdempotencyKey, ...TransferBody.properties },
  { $id: 'BatchTransfer', additionalProperties: false, description: 'As POST /transfers' },
)
export const PurchaseItem = Type.Object(
  { type: Type.Literal('purchase'), idempotencyKey: IdempotencyKey, ...PurchaseBody.properties },
  { $id: 'BatchPurchase', additionalProperties: false, description: 'As POST /purchases' },
)

export const BatchItem = Type.Union([DepositItem, WithdrawalItem, TransferItem, PurchaseItem])
export type BatchItemInput = Static<typeof BatchItem>

export const BatchBody = Type.Object(
  {
    items: Type.Array(BatchItem, { minItems: 1, maxItems: MAX_BATCH_ITEMS }),
    atomic: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'All applied, or none: one refusal refuses the batch (422)',
      }),
    ),
    dryRun: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Check every movement under the locks and apply nothing: what would happen',
      }),
    ),
  },
  { $id: 'BatchRequest', additionalProperties: false },
)
export type BatchInput = Static<typeof BatchBody>

export const BatchItemResult = Type.Object(
  {
    idempotencyKey: Type.String(),
    status: Type.Integer({ description: 'The status this movement alone would have got (201, 4xx)' }),
    replayed: Type.Boolean({ description: 'The answer was recorded by an earlier request with this key' }),
    result: Type.Union([LedgerTransaction, Type.Object({}, { additionalProperties: true })], {
      description: 'The transaction (201), or the problem of its refusal',
    }),
  },
  { $id: 'BatchItemResult' },
)

export const BatchResult = Type.Object(
  {
    atomic: Type.Boolean(),
    dryRun: Type.Boolean({ description: 'True: nothing was applied; the items say what would have been' }),
    succeeded: Type.Integer(),
    failed: Type.Integer(),
    items: Type.Array(BatchItemResult),
  },
  { $id: 'BatchResult' },
)
