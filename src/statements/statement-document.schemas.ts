import { type Static, Type } from 'typebox'
import { StringEnum } from '../http/enum.schemas.js'
import { TransactionType } from '../wallets/wallets.schemas.js'

/**
 * The JSON form of a statement: the body of `format=json` and the content of a JSON job's file.
 * Its own file so the renderers need nothing of the routes' schemas.
 */
const Timestamp = Type.String({ format: 'date-time' })
const Amount = Type.String({ description: 'Decimal string in the major unit, signed', examples: ['-10.50'] })
const NullableString = Type.Union([Type.String(), Type.Null()])

export const StatementKind = StringEnum(['wallet', 'points'], {
  $id: 'StatementKind',
  description: "A wallet's statement, or a user's points statement",
})

export const StatementTypeTotalView = Type.Object(
  {
    type: TransactionType,
    moneyIn: Amount,
    moneyOut: { ...Amount, description: 'Money out as a positive decimal string' },
    count: Type.Integer(),
  },
  { $id: 'StatementTypeTotal' },
)

export const StatementLineView = Type.Object(
  {
    date: { ...Timestamp, description: 'RFC 3339 in the statement time zone' },
    type: TransactionType,
    description: NullableString,
    reference: NullableString,
    counterparty: {
      ...NullableString,
      description: 'The other side where known: a wallet id, merchant, external',
    },
    transactionId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    amount: Amount,
    balanceAfter: Amount,
  },
  { $id: 'StatementLine' },
)

export const StatementDocument = Type.Object(
  {
    kind: StatementKind,
    holder: Type.Object({
      userId: Type.String({ format: 'uuid' }),
      email: NullableString,
      name: NullableString,
    }),
    accountId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()], {
      description: 'The wallet id, or the point account id',
    }),
    currency: Type.String({ description: 'Currency code, or the point asset', examples: ['USD'] }),
    period: Type.Object({
      from: { ...Timestamp, description: 'Inclusive' },
      to: { ...Timestamp, description: 'Exclusive' },
      timeZone: Type.String({ examples: ['UTC', 'Europe/Moscow'] }),
    }),
    openingBalance: Amount,
    closingBalance: Amount,
    totals: Type.Object({
      moneyIn: Amount,
      moneyOut: Amount,
      count: Type.Integer(),
      byType: Type.Array(StatementTypeTotalView),
    }),
    lines: Type.Array(StatementLineView),
    generatedAt: Timestamp,
  },
  { $id: 'Statement', description: "openingBalance + the sum of the lines' amounts = closingBalance" },
)
export type StatementDocumentView = Static<typeof StatementDocument>
