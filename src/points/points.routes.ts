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
  movementErrors,
  security,
} from '../http/route-conventions.js'
import type { IdempotentWriter } from '../ledger/group-commit.js'
import type { EarningRules } from './earning-rules.js'
import {
  AccountQuery,
  AdjustBody,
  AdjustOutcome,
  EarnBody,
  EarnOutcome,
  HistoryPage,
  HistoryQuery,
  LotList,
  LotsQuery,
  PointAccount,
  PointsTransactionParams,
  ReversalOutcome,
  ReverseBody,
  Rules,
  RulesBody,
  SpendBody,
  SpendOutcome,
} from './points.schemas.js'
import type { PointsService } from './points.service.js'

const tags = ['points']
const operators = ['admin', 'service'] as const

export async function pointsRoutes(
  app: App,
  deps: { points: PointsService; earningRules: EarningRules; idempotency: IdempotentWriter },
) {
  const { points, earningRules, idempotency } = deps

  app.post(
    '/points/earn',
    {
      config: { access: operators },
      schema: {
        tags,
        security,
        operationId: 'earnPoints',
        summary: 'Give a user points: a lot, pending until pendingUntil, lapsing at expiresAt',
        description: `Admins and services (a loyalty engine). ${IDEMPOTENT}`,
        headers: IdempotencyHeaders,
        body: EarnBody,
        response: { 201: jsonResponse(EarnOutcome, { description: 'The new lot' }), ...movementErrors },
      },
    },
    (request, reply) =>
      replyIdempotently(request, reply, (claim, renderRefusal) =>
        idempotency.run(claim, {
          work: async (trx) => ({ status: 201, body: await points.earn(trx, request.body) }),
          renderRefusal,
        }),
      ),
  )

  app.post(
    '/points/spend',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        operationId: 'spendPoints',
        summary: 'Spend available points, drawn from the lots that lapse first',
        description: `A user spends their own; admins and services name the user. Pending points cannot be spent: 422 insufficient_points. ${IDEMPOTENT}`,
        headers: IdempotencyHeaders,
        body: SpendBody,
        response: {
          201: jsonResponse(SpendOutcome, { description: 'The lots drawn from' }),
          ...movementErrors,
        },
      },
    },
    (request, reply) =>
      replyIdempotently(request, reply, (claim, renderRefusal) =>
        idempotency.run(claim, {
          work: async (trx) => ({
            status: 201,
            body: await points.spend(trx, principalOf(request), request.body),
          }),
          renderRefusal,
        }),
      ),
  )

  app.post(
    '/points/adjust',
    {
      config: { access: adminOnly },
      schema: {
        tags,
        security,
        operationId: 'adjustPoints',
        summary: 'Add points (a lot) or take them away (drawn like a spend, never below zero)',
        description: `Admins only, with a reason kept on the transaction. ${IDEMPOTENT}`,
        headers: IdempotencyHeaders,
        body: AdjustBody,
        response: {
          201: jsonResponse(AdjustOutcome, { description: 'The adjustment' }),
          ...movementErrors,
        },
      },
    },
    (request, reply) =>
      replyIdempotently(request, reply, (claim, renderRefusal) =>
        idempotency.run(claim, {
          work: async (trx) => ({
            status: 201,
            body: await points.adjust(trx, principalOf(request), request.body),
          }),
          renderRefusal,
        }),
      ),
  )

  app.post(
    '/points/transactions/:id/reverse',
    {
      config: { access: operators },
      schema: {
        tags,
        security,
        operationId: 'reversePointsTransaction',
        summary: 'Reverse a spend (points back to their lots) or an earn (its lot clawed back)',
        description: `Admins and services. Points returned to a lot that has lapsed are forfeited; points of an earn already spent are the shortfall. ${IDEMPOTENT}`,
        params: PointsTransactionParams,
        headers: IdempotencyHeaders,
        body: ReverseBody,
        response: {
          201: jsonResponse(ReversalOutcome, { description: 'What the reversal moved' }),
          ...movementErrors,
        },
      },
    },
    (request, reply) =>
      replyIdempotently(request, reply, (claim, renderRefusal) =>
        idempotency.run(claim, {
          work: async (trx) => ({
            status: 201,
            body: await points.reverse(trx, request.params.id, request.body),
          }),
          renderRefusal,
        }),
      ),
  )

  app.get(
    '/points',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        operationId: 'getPointsAccount',
        summary: "The caller's points: total, available, pending and what lapses soon",
        description: "A user's own; admins and services name the user with userId.",
        querystring: AccountQuery,
        response: { 200: PointAccount, ...problemResponses(400, 401, 404, 422) },
      },
    },
    async (request) => points.account(principalOf(request), request.query.userId),
  )

  app.get(
    '/points/transactions',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        operationId: 'listPointsTransactions',
        summary: 'Points history, newest first, with the figures after each change',
        description:
          "A user's own; admins and services name the user. Paged by limit (default 50, at most 500) and cursor (the nextCursor of the previous page); type narrows it.",
        querystring: HistoryQuery,
        response: { 200: HistoryPage, ...problemResponses(400, 401, 404, 422) },
      },
    },
    async (request) => points.history(principalOf(request), request.query),
  )

  app.get(
    '/points/lots',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        operationId: 'listPointsLots',
        summary: 'Lots with points left, the soonest to lapse first',
        description: "A user's own; admins and services name the user. The first limit lots (default 50).",
        querystring: LotsQuery,
        response: { 200: LotList, ...problemResponses(400, 401, 404, 422) },
      },
    },
    async (request) => ({ items: await points.lots(principalOf(request), request.query) }),
  )

  app.put(
    '/points/rules',
    {
      config: { access: adminOnly },
      schema: {
        tags,
        security,
        operationId: 'replaceEarningRules',
        summary: 'Replace the earning rules: points per unit of a currency on purchases',
        description: 'Admins only. The whole set at once; purchases from now on earn by the new rules.',
        body: RulesBody,
        response: { 200: Rules, ...problemResponses(400, 401, 403, 422) },
      },
    },
    async (request) => earningRules.replace(request.body),
  )

  app.get(
    '/points/rules',
    {
      config: { access: adminOnly },
      schema: {
        tags,
        security,
        operationId: 'getEarningRules',
        summary: 'The earning rules',
        description: 'Admins only.',
        response: { 200: Rules, ...problemResponses(401, 403) },
      },
    },
    async () => earningRules.list(),
  )
}
