import { principalOf } from '../auth/access.js'
import type { App } from '../http/app-type.js'
import { replyIdempotently } from '../http/idempotency.js'
import { problemResponses } from '../http/problem.schemas.js'
import { adminOnly, anyone, IdempotencyHeaders, movementErrors, security } from '../http/route-conventions.js'
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
        summary: 'Give a user points: a lot, pending until pendingUntil, lapsing at expiresAt',
        headers: IdempotencyHeaders,
        body: EarnBody,
        response: { 201: EarnOutcome, ...movementErrors },
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
        summary: 'Spend available points, drawn from the lots that lapse first',
        headers: IdempotencyHeaders,
        body: SpendBody,
        response: { 201: SpendOutcome, ...movementErrors },
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
        summary: 'Add points (a lot) or take them away (drawn like a spend, never below zero)',
        headers: IdempotencyHeaders,
        body: AdjustBody,
        response: { 201: AdjustOutcome, ...movementErrors },
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
        summary: 'Reverse a spend (points back to their lots) or an earn (its lot clawed back)',
        params: PointsTransactionParams,
        headers: IdempotencyHeaders,
        body: ReverseBody,
        response: { 201: ReversalOutcome, ...movementErrors },
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
        summary: "The caller's points: total, available, pending and what lapses soon",
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
        summary: 'Points history, newest first, with the figures after each change',
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
        summary: 'Lots with points left, the soonest to lapse first',
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
        summary: 'Replace the earning rules: points per unit of a currency on purchases',
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
        summary: 'The earning rules',
        response: { 200: Rules, ...problemResponses(401, 403) },
      },
    },
    async () => earningRules.list(),
  )
}
