export {
  type Currency,
  type CurrencyDefinition,
  CurrencyRegistry,
  defaultCurrencyRegistry,
  MAX_CURRENCY_DECIMALS,
  normaliseCurrencyCode,
} from './currency-registry.js'
export {
  CurrencyMismatch,
  InvalidCurrencyCode,
  type InvalidCurrencyCodeReason,
  InvalidCurrencyDefinition,
  MoneyError,
  type MoneyErrorCode,
  type MoneyFormatDetails,
  MoneyFormatError,
  type MoneyFormatReason,
  UnknownCurrency,
} from './money.errors.js'
export {
  addMoney,
  formatAmount,
  formatMoney,
  MAX_INTEGER_DIGITS,
  type Money,
  money,
  type ParseAmountOptions,
  parseAmount,
  parseMoney,
  subtractMoney,
} from './money.js'
