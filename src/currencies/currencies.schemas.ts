import { type Static, Type } from 'typebox'
import { StringEnum } from '../http/enum.schemas.js'
import { SingleLineText } from '../http/input.schemas.js'
import { MAX_CURRENCY_DECIMALS } from '../money/index.js'

const CURRENCY_KINDS = ['iso4217', 'custom'] as const

export const CurrencyKind = StringEnum(CURRENCY_KINDS, {
  $id: 'CurrencyKind',
  description: 'iso4217: from the standard; custom: an asset defined by an operator (or built in, like PTS)',
})

export const Currency = Type.Object(
  {
    code: Type.String({ examples: ['USDT'] }),
    decimals: Type.Integer({ description: 'Digits after the point that amounts of this currency may have' }),
    name: Type.String(),
    kind: CurrencyKind,
  },
  { $id: 'Currency' },
)
export type CurrencyView = Static<typeof Currency>

export const CurrencyList = Type.Object({ items: Type.Array(Currency) }, { $id: 'CurrencyList' })

export const CurrencyListQuery = Type.Object(
  { kind: Type.Optional(StringEnum(CURRENCY_KINDS, { description: 'Only currencies of this kind' })) },
  { additionalProperties: false },
)

export const CurrencyParams = Type.Object({
  code: Type.String({
    minLength: 1,
    maxLength: 32,
    description: '3 to 12 letters or digits, letter first, any case',
  }),
})

export const DefineCurrencyBody = Type.Object(
  {
    decimals: Type.Integer({
      minimum: 0,
      maximum: MAX_CURRENCY_DECIMALS,
      description: 'Fixed once any wallet uses the currency',
    }),
    name: SingleLineText({ minLength: 1, maxLength: 100, examples: ['Tether USD'] }),
  },
  { $id: 'DefineCurrencyRequest', additionalProperties: false },
)
