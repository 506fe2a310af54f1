import { defineError } from '../errors.js'

export type InvalidFxRateReason = 'invalid_format' | 'not_positive' | 'too_precise'

export const InvalidFxRate = defineError<{ reason: InvalidFxRateReason; detail: string }>({
  code: 'invalid_fx_rate',
  status: 422,
  title: 'Invalid exchange rate',
  detail: (p) => p.detail,
  members: ['reason'],
})

export const FxRateNotFound = defineError<{ base: string; quote: string }>({
  code: 'fx_rate_not_found',
  status: 422,
  title: 'No exchange rate',
  detail: (p) =>
    `No rate is set for ${p.base} to ${p.quote}; an admin sets it with PUT /fx-rates/${p.base}/${p.quote}`,
  members: ['base', 'quote'],
})

export const ExchangeSameCurrency = defineError<{ currency: string }>({
  code: 'exchange_same_currency',
  status: 422,
  title: 'Same currency on both sides',
  detail: (p) => `Both sides are ${p.currency}; an exchange needs two different currencies`,
  members: ['currency'],
})

export const ExchangeAmountTooSmall = defineError<{ currency: string; rate: string }>({
  code: 'exchange_amount_too_small',
  status: 422,
  title: 'Converted amount rounds to zero',
  detail: (p) => `At ${p.rate} the amount converts to less than the smallest unit of ${p.currency}`,
  members: ['currency', 'rate'],
})

export const FxQuoteNotFound = defineError<{ quoteId: string }>({
  code: 'fx_quote_not_found',
  status: 404,
  title: 'Quote not found',
  detail: (p) => `No quote ${p.quoteId} that you can use`,
  members: ['quoteId'],
})

export const FxQuoteExpired = defineError<{ quoteId: string; expiredAt: string }>({
  code: 'fx_quote_expired',
  status: 422,
  title: 'Quote expired',
  detail: (p) => `Quote ${p.quoteId} expired at ${p.expiredAt}; ask for a new one`,
  members: ['quoteId', 'expiredAt'],
})

export const FxQuoteUsed = defineError<{ quoteId: string }>({
  code: 'fx_quote_used',
  status: 409,
  title: 'Quote already used',
  detail: (p) => `Quote ${p.quoteId} has already been used for an exchange; a quote is good for one`,
  members: ['quoteId'],
})

export const FxQuoteMismatch = defineError<{
  quoteId: string
  field: 'fromCurrency' | 'toCurrency' | 'amount'
}>({
  code: 'fx_quote_mismatch',
  status: 422,
  title: 'Quote does not match the exchange',
  detail: (p) => `Quote ${p.quoteId} was given for a different ${p.field}; exchange exactly what was quoted`,
  members: ['quoteId', 'field'],
})
