import { type Static, Type } from 'typebox'
import { StringEnum, TextEnum } from '../http/enum.schemas.js'
import { AmountInput, FreeText, ListLimit, MetadataInput, SingleLineText } from '../http/input.schemas.js'
import { TRANSACTION_TYPES } from '../ledger/posting-types.js'

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

export const WalletStatus = StringEnum(['active', 'frozen', 'closed'], {
  $id: 'WalletStatus',
  description: 'frozen: no money moves out or in; closed: for good',
})

// Text enums: history rows carry type and status as the text the ledger wrote.
export const TransactionType = TextEnum(TRANSACTION_TYPES, {
  $id: 'TransactionType',
  description: 'What moved the money, as the ledger records it',
})

/** What the posting engine writes: a transaction is recorded posted, and a reversal is another transaction. */
export const TRANSACTION_STATUSES = ['posted'] as const
export const TransactionStatus = TextEnum(TRANSACTION_STATUSES, { $id: 'TransactionStatus' })

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
  {
    $id: 'Wallet',
    description: 'balance = available + pending: pending is what holds reserve',
  },
)
export type WalletView = Static<typeof Wallet>

export const WalletList = Type.Object({ items: Type.Array(Wallet) }, { $id: 'WalletList' })

export const WalletListQuery = Type.Object(
  {
    userId: Type.Optional({
      ...Uuid,
      description: 'Admins and services: whose wallets; a user may name only themselves (anyone else is 404)',
    }),
  },
  { additionalProperties: false },
)

export const CreateWalletBody = Type.Object(
  {
    currency: CurrencyCode,
    userId: Type.Optional({ ...Uuid, description: 'admin and service only: the owner' }),
  },
  { $id: 'CreateWalletRequest', additionalProperties: false },
)

export const WalletParams = Type.Object({ id: { ...Uuid, description: 'The wallet id' } })

export const MovementBody = Type.Object(
  {
    amount: AmountField,
    reference: Type.Optional(
      SingleLineText({ maxLength: 200, description: 'Your own reference, e.g. a payment id' }),
    ),
    description: Type.Optional(FreeText({ maxLength: 500, description: 'Shown in history and statements' })),
    metadata: Type.Optional(MetadataInput),
  },
  { $id: 'MovementRequest', additionalProperties: false, description: 'A deposit or a withdrawal' },
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
  {
    $id: 'TransferRequest',
    additionalProperties: false,
    description: 'The destination is toWalletId, or toUserId (that user’s wallet in the same currency)',
  },
)
export type TransferInput = Static<typeof TransferBody>

export const Entry = Type.Object(
  {
    walletId: Type.Optional(Uuid),
    account: Type.Optional(
      Type.String({ description: 'System account name, e.g. world or merchant:shop-1' }),
    ),
    currency: Type.String(),
    amount: SignedAmountString,
    balanceAfter: Type.Union([SignedAmountString, Type.Null()]),
  },
  {
    $id: 'Entry',
    description:
      'One leg of a transaction: a wallet (walletId) or a system account (account); negative is a debit',
  },
)

export const LedgerTransaction = Type.Object(
  {
    id: Uuid,
    type: TransactionType,
    status: TransactionStatus,
    amount: AmountString,
    currency: Type.String(),
    entries: Type.Array(Entry, { description: 'They sum to zero per currency' }),
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

export const TransactionParams = Type.Object({ id: { ...Uuid, description: 'The transaction id' } })

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

export const HistoryItem = Type.Object(
  {
    transactionId: Uuid,
    type: TransactionType,
    status: TransactionStatus,
    amount: SignedAmountString,
    balanceAfter: SignedAmountString,
    currency: Type.String(),
    reference: Type.Union([Type.String(), Type.Null()]),
    description: Type.Union([Type.String(), Type.Null()]),
    createdAt: Timestamp,
  },
  { $id: 'WalletHistoryItem', description: "One change of the wallet's balance, signed" },
)

export const HistoryPage = Type.Object(
  {
    items: Type.Array(HistoryItem),
    nextCursor: Type.Union([Type.String(), Type.Null()], {
      description: 'Pass as cursor for the next page; null on the last page',
    }),
  },
  { $id: 'WalletHistoryPage' },
)
export type HistoryPageView = Static<typeof HistoryPage>

export const BalanceAtQuery = Type.Object(
  { at: Type.Optional({ ...Timestamp, description: 'The instant; now if absent' }) },
  { additionalProperties: false },
)

export const BalanceAt = Type.Object(
  {
    walletId: Uuid,
    currency: Type.String(),
    balance: SignedAmountString,
    at: Timestamp,
  },
  { $id: 'Balance' },
)
