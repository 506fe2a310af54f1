import { createContext, type ReactNode, useContext, useMemo } from 'react'
import { coffer, must } from './api'
import { useResource } from './hooks'
import type { Currency } from './types'

interface CurrencyCatalogue {
  currencies: Currency[]
  loaded: boolean
  error: unknown
  /** Digits after the point for a code; 2 until the catalogue has loaded (the common case). */
  decimalsOf: (code: string) => number
  known: (code: string) => boolean
}

const CurrenciesContext = createContext<CurrencyCatalogue>({
  currencies: [],
  loaded: false,
  error: undefined,
  decimalsOf: () => 2,
  known: () => false,
})

/** GET /currencies once per session: every amount field and figure needs the decimals. */
export function CurrenciesProvider({ children }: { children: ReactNode }) {
  const catalogue = useResource(async () => (await must(coffer.GET('/api/v1/currencies'))).items, [])
  const value = useMemo<CurrencyCatalogue>(() => {
    const currencies = catalogue.data ?? []
    const byCode = new Map(currencies.map((currency) => [currency.code, currency]))
    return {
      currencies,
      loaded: catalogue.data !== undefined,
      error: catalogue.error,
      decimalsOf: (code) => byCode.get(code.toUpperCase())?.decimals ?? 2,
      known: (code) => byCode.has(code.toUpperCase()),
    }
  }, [catalogue.data, catalogue.error])
  return <CurrenciesContext.Provider value={value}>{children}</CurrenciesContext.Provider>
}

export function useCurrencies(): CurrencyCatalogue {
  return useContext(CurrenciesContext)
}
