import { principalOf } from '../auth/access.js'
import type { App } from '../http/app-type.js'
import { replyIdempotently } from '../http/idempotency.js'
import { problemResponses } from '../http/problem.schemas.js'
import {
  adminOnly,
  anyone,
  IDEMPOTENT,
  IdempotencyHeaders,
  jsonResponse,
  security,
} from '../http/route-conventions.js'
import type { IdempotentWriter } from '../ledger/group-commit.js'
import {
  CreateFxQuoteBody,
  Exchange,
  ExchangeBody,
  FxQuote,
  FxRate,
  FxRateList,
  FxRateListQuery,
  FxRateParams,
  SetFxRateBody,
} from './fx.schemas.js'
import type { FxService } from './fx.service.js'

const tags = ['exchange']

export async function fxRoutes(app: App, deps: { fx: FxService; idempotency: IdempotentWriter }) {
  const { fx, idempotency } = deps

  app.get(
    '/fx-rates',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        operationId: 'listFxRates',
        summary: 'The exchange rates in force, one per direction of a currency pair',
        description: 'Any signed-in caller; base and quote narrow the list. Not paged.',
        querystring: FxRateListQuery,
        response: { 200: FxRateList, ...problemResponses(400, 401, 422) },
      },
    },
    async (request) => ({ items: await fx.listRates(request.query) }),
  )

  app.put(
    '/fx-rates/:base/:quote',
    {
      config: { access: adminOnly },
      schema: {
        tags,
        security,
        operationId: 'setFxRate',
        summary: 'Set the rate from base to quote (admin): how many quote units one base unit buys',
        description:
          'Admins only. Safe to repeat: 201 for a new pair, 200 when it replaces the rate in force. The other direction is a rate of its own.',
        params: FxRateParams,
        body: SetFxRateBody,
        response: {
          200: jsonResponse(FxRate, { description: 'The rate, replaced' }),
          201: jsonResponse(FxRate, { description: 'The rate of a new pair' }),
          ...problemResponses(400, 401, 403, 422),
        },
      },
    },
    async (request, reply) => {
      const { rate, created } = await fx.setRate(request.params.base, request.params.quote, request.body.rate)
      return reply.status(created ? 201 : 200).send(rate)
    },
  )

  app.post(
    '/fx-quotes',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        operationId: 'createFxQuote',
        summary: 'Fix the current rate for 30 seconds, for one exchange of exactly this amount',
        description:
          'Any signed-in caller. Pass its id as quoteId to POST /api/v1/exchanges before it expires.',
        body: CreateFxQuoteBody,
        response: {
          201: jsonResponse(FxQuote, { description: 'The quote: what would be debited and credited' }),
          ...problemResponses(400, 401, 422),
        },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await fx.createQuote(principalOf(request), request.body)),
  )

  app.post(
    '/exchanges',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        operationId: 'createExchange',
        summary: 'Convert money between two wallets of different currencies at the current or quoted rate',
        description: `Both wallets must be the caller's (admins and services: any two). ${IDEMPOTENT}`,
        headers: IdempotencyHeaders,
        body: ExchangeBody,
        response: {
          201: jsonResponse(Exchange, { description: 'The exchange and its transaction' }),
          ...problemResponses(400, 401, 403, 404, 409, 422),
        },
      },
    },
    (request, reply) =>
      replyIdempotently(request, reply, (claim, renderRefusal) =>
        idempotency.run(claim, {
          work: async (trx) => ({
            status: 201,
            body: await fx.exchange(trx, principalOf(request), request.body),
          }),
          renderRefusal,
        }),
      ),
  )
}
