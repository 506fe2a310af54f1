import { type Static, Type } from 'typebox'
import { StringEnum } from '../http/enum.schemas.js'
import { AmountInput, FreeText, MetadataInput, SingleLineText } from '../http/input.schemas.js'
import { LedgerTransaction } from '../wallets/wallets.schemas.js'

const Uuid = Type.String({ format: 'uuid' })
const AmountString = Type.String({
  description: 'Decimal string in the major unit, e.g. "10.50"',
  examples: ['10.50'],
})
const Timestamp = Type.String({ format: 'date-time' })
const Merchant = Type.String({
  pattern: '^[A-Za-z0-9._:-]{1,100}$',
  description: 'Merchant id; money goes to the system account merchant:<id> in the wallet currency',
  examples: ['shop-42'],
})
const AmountField = AmountInput({
  description: 'Decimal string in the major unit, e.g. "10.50"',
  examples: ['10.50'],
})

export const PurchaseBody = Type.Object(
  {
    walletId: Uuid,
    merchant: Merchant,
    amount: AmountField,
    orderId: Type.Optional(
      SingleLineText({ maxLength: 200, description: "The merchant's order id; stored as the reference" }),
    ),
    description: Type.Optional(FreeText({ maxLength: 500 })),
    metadata: Type.Optional(MetadataInput),
  },
  { $id: 'PurchaseRequest', additionalProperties: false },
)
export type PurchaseInput = Static<typeof PurchaseBody>

export const HoldStatus = StringEnum(['pending', 'captured', 'voided', 'expired'], {
  $id: 'HoldStatus',
  description: 'pending until captured, voided or expired',
})

export const Hold = Type.Object(
  {
    id: Uuid,
    walletId: Uuid,
    currency: Type.String(),
    amount: AmountString,
    capturedAmount: Type.Union([AmountString, Type.Null()]),
    merchant: Type.Union([Type.String(), Type.Null()]),
    status: HoldStatus,
    expiresAt: Type.Union([Timestamp, Type.Null()]),
    description: Type.Union([Type.String(), Type.Null()]),
    holdTransactionId: Uuid,
    settledTransactionId: Type.Union([Uuid, Type.Null()]),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  {
    $id: 'Hold',
    description: "Funds reserved on a wallet: its available amount is lower by the hold's amount",
  },
)
export type HoldView = Static<typeof Hold>

export const HoldList = Type.Object({ items: Type.Array(Hold) }, { $id: 'HoldList' })

export const CreateHoldBody = Type.Object(
  {
    walletId: Uuid,
    amount: AmountField,
    merchant: Type.Optional(Merchant),
    expiresAt: Type.Optional({ ...Timestamp, description: 'When the worker releases it if not captured' }),
    description: Type.Optional(FreeText({ maxLength: 500 })),
  },
  { $id: 'CreateHoldRequest', additionalProperties: false },
)
export type CreateHoldInput = Static<typeof CreateHoldBody>

export const CaptureBody = Type.Object(
  {
    amount: Type.Optional({ ...AmountField, description: 'Default: the whole hold; the rest is released' }),
    merchant: Type.Optional(Merchant),
  },
  { $id: 'CaptureHoldRequest', additionalProperties: false },
)
export type CaptureInput = Static<typeof CaptureBody>

export const HoldOutcome = Type.Object(
  { hold: Hold, transaction: LedgerTransaction },
  { $id: 'HoldOutcome', description: 'The hold as it is now, and the transaction that settled it' },
)

export const HoldParams = Type.Object({ id: { ...Uuid, description: 'The hold id' } })
export const HoldListQuery = Type.Object(
  { status: Type.Optional(HoldStatus) },
  { additionalProperties: false },
)

export const ReversalBody = Type.Object(
  {
    amount: Type.Optional({ ...AmountField, description: 'Default: all that is left to reverse' }),
    reason: FreeText({ minLength: 1, maxLength: 500 }),
    force: Type.Optional(
      Type.Boolean({
        description: 'Admin only: reverse even if it drives the payee negative; flagged "forced"',
      }),
    ),
  },
  { $id: 'ReversalRequest', additionalProperties: false },
)
export type ReversalInput = Static<typeof ReversalBody>
