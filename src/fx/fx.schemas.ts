import { type Static, Type } from 'typebox'
import { AmountInput, FreeText, SingleLineText } from '../http/input.schemas.js'
import { LedgerTransaction } from '../wallets/wallets.schemas.js'

const Uuid = Type.String({ format: 'uuid' })
const Timestamp = Type.String({ format: 'date-time' })
const CurrencyCode = Type.String({ minLength: 1, maxLength: 32, description: 'Currency code, any case' })
const RateString = Type.String({
  description: 'Units of the quote currency per unit of the base currency, as an exact decimal string',
  examples: ['151.237'],
})
const AmountString = Type.String({
  description: 'Decimal string in the major unit, at most the currency\'s decimals, e.g. "10.00"',
  examples: ['10.00'],
})

export const FxRate = Type.Object(
  {
    base: Type.String({ examples: ['USD'] }),
    quote: Type.String({ examples: ['JPY'] }),
    rate: RateString,
    updatedAt: Timestamp,
  },
  { $id: 'FxRate' },
)
export type FxRateView = Static<typeof FxRate>

export const FxRateList = Type.Object({ items: Type.Array(FxRate) }, { $id: 'FxRateList' })

export const FxRateListQuery = Type.Object(
  {
    base: Type.Optional({ ...CurrencyCode, description: 'Only rates from this currency' }),
    quote: Type.Optional({ ...CurrencyCode, description: 'Only rates to this currency' }),
  },
  { additionalProperties: false },
)
export type FxRateListInput = Static<typeof FxRateListQuery>

export const FxRateParams = Type.Object({ base: CurrencyCode, quote: CurrencyCode })

export const SetFxRateBody = Type.Object(
  {
    rate: Type.String({
      maxLength: 100,
      description: 'A positive plain decimal, at most 30 significant digits and 40 decimals; stored exactly',
      examples: ['151.237'],
    }),
  },
  { $id: 'SetFxRateRequest', additionalProperties: false },
)

const AmountField = AmountInput({
  description: 'Decimal string in the major unit, at most the currency\'s decimals, e.g. "10.00"',
  examples: ['10.00'],
})

export const CreateFxQuoteBody = Type.Object(
  {
    from: { ...CurrencyCode, examples: ['USD'] },
    to: { ...CurrencyCode, examples: ['JPY'] },
    amount: { ...AmountField, description: 'The amount to debit, in the from currency' },
  },
  { $id: 'CreateFxQuoteRequest', additionalProperties: false },
)
export type CreateFxQuoteInput = Static<typeof CreateFxQuoteBody>

export const FxQuote = Type.Object(
  {
    id: Uuid,
    from: Type.String(),
    to: Type.String(),
    rate: RateString,
    debited: { ...AmountString, description: 'Taken from the from-currency wallet' },
    credited: { ...AmountString, description: 'Given to the to-currency wallet, rounded down' },
    expiresAt: { ...Timestamp, description: 'Pass id as quoteId to POST /exchanges before this instant' },
  },
  { $id: 'FxQuote' },
)
export type FxQuoteView = Static<typeof FxQuote>

export const ExchangeBody = Type.Object(
  {
    fromWalletId: Uuid,
    toWalletId: Uuid,
    amount: { ...AmountField, description: "The amount to debit, in the from wallet's currency" },
    quoteId: Type.Optional({
      ...Uuid,
      description: 'A quote from POST /fx-quotes: its rate is used, unchanged',
    }),
    reference: Type.Optional(SingleLineText({ maxLength: 200, description: 'Your own reference' })),
    description: Type.Optional(FreeText({ maxLength: 500, description: 'Shown in history and statements' })),
  },
  { $id: 'ExchangeRequest', additionalProperties: false },
)
export type ExchangeInput = Static<typeof ExchangeBody>

export const Exchange = Type.Object(
  {
    transaction: LedgerTransaction,
    rate: RateString,
    fromCurrency: Type.String(),
    toCurrency: Type.String(),
    debited: AmountString,
    credited: { ...AmountString, description: "debited × rate, rounded down to the to currency's decimals" },
    quoteId: Type.Union([Uuid, Type.Null()]),
  },
  { $id: 'Exchange' },
)
export type ExchangeView = Static<typeof Exchange>
