import type { App } from '../http/app-type.js'
import { problemResponses } from '../http/problem.schemas.js'
import { adminOnly, anyone, jsonResponse, security } from '../http/route-conventions.js'
import type { Currency } from '../money/index.js'
import type { CurrencyView } from './currencies.schemas.js'
import {
  CurrencyList,
  CurrencyListQuery,
  CurrencyParams,
  Currency as CurrencySchema,
  DefineCurrencyBody,
} from './currencies.schemas.js'
import type { CurrenciesService } from './currencies.service.js'

const tags = ['currencies']

function currencyView(currency: Currency): CurrencyView {
  return { code: currency.code, decimals: currency.decimals, name: currency.name, kind: currency.kind }
}

export async function currencyRoutes(app: App, deps: { customCurrencies: CurrenciesService }) {
  const { customCurrencies } = deps

  // The registry must know every stored asset before the first request, and keep learning of
  // assets other processes define for as long as this app serves.
  let stopReloading: (() => Promise<void>) | null = null
  app.addHook('onReady', async () => {
    await customCurrencies.load()
    stopReloading = customCurrencies.keepFresh()
  })
  app.addHook('onClose', async () => {
    await stopReloading?.()
  })

  app.get(
    '/currencies',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        operationId: 'listCurrencies',
        summary: 'Every currency the ledger accepts: ISO 4217 and custom assets, with their decimals',
        description:
          'Any signed-in caller; kind narrows the list. Amounts in a currency have at most its decimals.',
        querystring: CurrencyListQuery,
        response: { 200: CurrencyList, ...problemResponses(400, 401) },
      },
    },
    async (request) => ({ items: (await customCurrencies.list(request.query.kind)).map(currencyView) }),
  )

  app.put(
    '/currencies/:code',
    {
      config: { access: adminOnly },
      schema: {
        tags,
        security,
        operationId: 'defineCurrency',
        summary: 'Add or rename a custom asset (admin); decimals are fixed once a wallet uses it',
        description:
          'Admins only. Safe to repeat: 201 for a new asset, 200 when it changes one. An ISO 4217 or built-in code is 422 currency_reserved; new decimals for an asset a wallet uses are 409 currency_in_use.',
        params: CurrencyParams,
        body: DefineCurrencyBody,
        response: {
          200: jsonResponse(CurrencySchema, { description: 'The asset, changed' }),
          201: jsonResponse(CurrencySchema, { description: 'The new asset' }),
          ...problemResponses(400, 401, 403, 409, 422),
        },
      },
    },
    async (request, reply) => {
      const { currency, created } = await customCurrencies.define(request.params.code, request.body)
      return reply.status(created ? 201 : 200).send(currencyView(currency))
    },
  )
}
