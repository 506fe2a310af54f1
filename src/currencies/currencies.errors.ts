import { defineError } from '../errors.js'

export const CurrencyReserved = defineError<{ currency: string; reason: 'iso4217' | 'built_in' }>({
  code: 'currency_reserved',
  status: 422,
  title: 'Currency cannot be redefined',
  detail: (p) =>
    p.reason === 'iso4217'
      ? `${p.currency} is an ISO 4217 currency; its decimals and name come from the standard`
      : `${p.currency} is a built-in asset and cannot be redefined`,
  members: ['currency', 'reason'],
})

export const CurrencyInUse = defineError<{ currency: string; decimals: number }>({
  code: 'currency_in_use',
  status: 409,
  title: 'Currency is in use',
  detail: (p) =>
    `${p.currency} is used by at least one wallet, so its decimals stay ${p.decimals}; only its name can change`,
  members: ['currency', 'decimals'],
})
