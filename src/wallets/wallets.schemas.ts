import { type Static, Type } from 'typebox'
import { AmountInput, FreeText, ListLimit, MetadataInput, SingleLineText } from '../http/input.schemas.js'

const Uuid = Type.String({ format: 'uuid' })
const AmountString = Type.String({
  description: 'Decimal string in the major unit, at most the currency\'s decimals, e.g. "10.50"',
  examples: ['10.50'],
})
const SignedAmountString = Type.String({
  description: 'Signed decimal string in the major unit',
  examples: ['-3.20'],
})
const CurrencyCode = Type.String({
  maxLength: 32,
  description: 'ISO 4217 code or a configured asset, any case',
  examples: ['USD'],
})
const Metadata = Type.Record(Type.String(), Type.Unknown(), {
  description: 'Free-form JSON object stored with the transaction',
})
const AmountField = AmountInput({
  description: 'Decimal string in the major unit, at most the currency\'s decimals, e.g. "10.50"',
  examples: ['10.50'],
})
const Timestamp = Type.String({ format: 'date-time' })

export const WalletStatus = Type.Union([
  Type.Literal('active'),
  Type.Literal('frozen'),
  Type.Literal('closed'),
])

export const Wallet = Type.Object(
  {
    id: Uuid,
    userId: Uuid,
    currency: Type.String(),
    balance: SignedAmountString,
    available: SignedAmountString,
    pending: AmountString,
    status: WalletStatus,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Wallet' },
)
export type WalletView = Static<typeof Wallet>

export const WalletList = Type.Object({ items: Type.Array(Wallet) })

export const CreateWalletBody = Type.Object(
  {
    currency: CurrencyCode,
    userId: Type.Optional({ ...Uuid, description: 'admin and service only: the owner' }),
  },
  { additionalProperties: false },
)

export const WalletParams = Type.Object({ id: Uuid })

export const MovementBody = Type.Object(
  {
    amount: AmountField,
    reference: Type.Optional(
      SingleLineText({ maxLength: 200, description: 'Your own reference, e.g. a payment id' }),
    ),
    description: Type.Optional(FreeText({ maxLength: 500, description: 'Shown in history and statements' })),
    metadata: Type.Optional(MetadataInput),
  },
  { additionalProperties: false },
)
export type MovementInput = Static<typeof MovementBody>

export const TransferBody = Type.Object(
  {
    fromWalletId: Uuid,
    toWalletId: Type.Optional(Uuid),
    toUserId: Type.Optional({ ...Uuid, description: "That user's wallet in the source wallet's currency" }),
    amount: AmountField,
    reference: Type.Optional(SingleLineText({ maxLength: 200, description: 'Your own reference' })),
    description: Type.Optional(FreeText({ maxLength: 500, description: 'Shown in history and statements' })),
    metadata: Type.Optional(MetadataInput),
  },
  { additionalProperties: false },
)
export type TransferInput = Static<typeof TransferBody>

export const Entry = Type.Object({
  walletId: Type.Optional(Uuid),
  account: Type.Optional(Type.String({ description: 'System account name, e.g. world or merchant:shop-1' })),
  currency: Type.String(),
  amount: SignedAmountString,
  balanceAfter: Type.Union([SignedAmountString, Type.Null()]),
})

export const LedgerTransaction = Type.Object(
  {
    id: Uuid,
    type: Type.String(),
    status: Type.String(),
    amount: AmountString,
    currency: Type.String(),
    entries: Type.Array(Entry),
    reference: Type.Union([Type.String(), Type.Null()]),
    description: Type.Union([Type.String(), Type.Null()]),
    metadata: Type.Union([Metadata, Type.Null()]),
    reversesId: Type.Union([Uuid, Type.Null()]),
    flags: Type.Array(Type.String()),
    createdAt: Timestamp,
  },
  { $id: 'Transaction' },
)
export type TransactionView = Static<typeof LedgerTransaction>

export const TransactionParams = Type.Object({ id: Uuid })

export const HistoryQuery = Type.Object(
  {
    limit: Type.Optional(ListLimit),
    cursor: Type.Optional(SingleLineText({ maxLength: 200, description: 'nextCursor of the previous page' })),
    from: Type.Optional({ ...Timestamp, description: 'Only entries at or after this instant' }),
    to: Type.Optional({ ...Timestamp, description: 'Only entries before this instant' }),
    type: Type.Optional(SingleLineText({ maxLength: 40, description: 'Only transactions of this type' })),
  },
  { additionalProperties: false },
)
export type HistoryQueryInput = Static<typeof HistoryQuery>

export const HistoryItem = Type.Object({
  transactionId: Uuid,
  type: Type.String(),
  status: Type.String(),
  amount: SignedAmountString,
  balanceAfter: SignedAmountString,
  currency: Type.String(),
  reference: Type.Union([Type.String(), Type.Null()]),
  description: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
})

export const HistoryPage = Type.Object({
  items: Type.Array(HistoryItem),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
})
export type HistoryPageView = Static<typeof HistoryPage>

export const BalanceAtQuery = Type.Object({ at: Type.Optional(Timestamp) }, { additionalProperties: false })

export const BalanceAt = Type.Object({
  walletId: Uuid,
  currency: Type.String(),
  balance: SignedAmountString,
  at: Timestamp,
})
