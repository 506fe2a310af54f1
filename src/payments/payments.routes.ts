import { principalOf } from '../auth/access.js'
import type { App } from '../http/app-type.js'
import { replyIdempotently } from '../http/idempotency.js'
import { NoBody } from '../http/input.schemas.js'
import { problemResponses } from '../http/problem.schemas.js'
import {
  anyone,
  IDEMPOTENT,
  IdempotencyHeaders,
  jsonResponse,
  movementErrors,
  security,
} from '../http/route-conventions.js'
import type { IdempotentWriter } from '../ledger/group-commit.js'
import { LedgerTransaction, TransactionParams, WalletParams } from '../wallets/wallets.schemas.js'
import type { WalletsService } from '../wallets/wallets.service.js'
import {
  CaptureBody,
  CreateHoldBody,
  Hold,
  HoldList,
  HoldListQuery,
  HoldOutcome,
  HoldParams,
  PurchaseBody,
  ReversalBody,
} from './payments.schemas.js'
import type { PaymentsService } from './payments.service.js'

const operators = ['admin', 'service'] as const
const postedTransaction = jsonResponse(LedgerTransaction, { description: 'The posted transaction' })
const settledHold = jsonResponse(HoldOutcome, { description: 'The hold and the transaction that settled it' })

export async function paymentRoutes(
  app: App,
  deps: { payments: PaymentsService; wallets: WalletsService; idempotency: IdempotentWriter },
) {
  const { payments, wallets, idempotency } = deps

  app.post(
    '/purchases',
    {
      config: { access: anyone },
      schema: {
        operationId: 'createPurchase',
        tags: ['payments'],
        security,
        summary: 'Pay a merchant from a wallet',
        description: `From a wallet of the caller's (admins and services: any) to the system account merchant:<merchant>; it may earn points under the earning rules. ${IDEMPOTENT}`,
        headers: IdempotencyHeaders,
        body: PurchaseBody,
        response: { 201: postedTransaction, ...movementErrors },
      },
    },
    async (request, reply) => {
      // A purchase that may earn points posts in a transaction of its own, with them; otherwise
      // it joins other callers' movements in a group commit.
      const ownTransaction = await payments.purchaseNeedsTransaction(principalOf(request), request.body)
      return replyIdempotently(request, reply, (claim, renderRefusal) =>
        ownTransaction
          ? idempotency.run(claim, {
              work: async (trx) => ({
                status: 201,
                body: wallets.transactionView(
                  await payments.purchaseIn(trx, principalOf(request), request.body),
                  principalOf(request),
                ),
              }),
              renderRefusal,
            })
          : idempotency.postMovement(claim, {
              build: () => payments.purchase(principalOf(request), request.body),
              render: (posted) => wallets.transactionView(posted, principalOf(request)),
              renderRefusal,
            }),
      )
    },
  )

  app.post(
    '/holds',
    {
      config: { access: anyone },
      schema: {
        operationId: 'createHold',
        tags: ['holds'],
        security,
        summary: 'Reserve funds: available drops, balance stays, until capture, void or expiry',
        description: `On a wallet of the caller's (admins and services: any). Without expiresAt the hold lasts until captured or voided. ${IDEMPOTENT}`,
        headers: IdempotencyHeaders,
        body: CreateHoldBody,
        response: { 201: jsonResponse(Hold, { description: 'The pending hold' }), ...movementErrors },
      },
    },
    (request, reply) =>
      replyIdempotently(request, reply, (claim, renderRefusal) =>
        idempotency.run(claim, {
          work: async (trx) => ({
            status: 201,
            body: await payments.createHold(trx, principalOf(request), request.body),
          }),
          renderRefusal,
        }),
      ),
  )

  app.post(
    '/holds/:id/capture',
    {
      config: { access: anyone },
      schema: {
        operationId: 'captureHold',
        tags: ['holds'],
        security,
        summary: 'Post all or part of a hold to its merchant; the rest is released',
        description: `Only a pending hold; one that is captured, voided or expired is 409. ${IDEMPOTENT}`,
        params: HoldParams,
        headers: IdempotencyHeaders,
        body: CaptureBody,
        response: { 201: settledHold, ...movementErrors },
      },
    },
    (request, reply) =>
      replyIdempotently(request, reply, (claim, renderRefusal) =>
        idempotency.run(claim, {
          work: async (trx) => ({
            status: 201,
            body: await payments.captureHold(
              trx,
              principalOf(request),
              request.params.id,
              request.body ?? {},
            ),
          }),
          renderRefusal,
        }),
      ),
  )

  app.post(
    '/holds/:id/void',
    {
      config: { access: anyone },
      schema: {
        operationId: 'voidHold',
        tags: ['holds'],
        security,
        summary: 'Cancel a hold: its reserve goes back to available',
        description: `Only a pending hold; it works on a frozen wallet too, since it only releases money. ${IDEMPOTENT}`,
        params: HoldParams,
        headers: IdempotencyHeaders,
        body: NoBody,
        response: { 201: settledHold, ...movementErrors },
      },
    },
    (request, reply) =>
      replyIdempotently(request, reply, (claim, renderRefusal) =>
        idempotency.run(claim, {
          work: async (trx) => ({
            status: 201,
            body: await payments.voidHold(trx, principalOf(request), request.params.id),
          }),
          renderRefusal,
        }),
      ),
  )

  app.get(
    '/holds/:id',
    {
      config: { access: anyone },
      schema: {
        operationId: 'getHold',
        tags: ['holds'],
        security,
        summary: 'One hold',
        description:
          "A hold on one of the caller's wallets (admins and services: any); another user's is 404.",
        params: HoldParams,
        response: { 200: Hold, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => payments.getHold(principalOf(request), request.params.id),
  )

  app.get(
    '/wallets/:id/holds',
    {
      config: { access: anyone },
      schema: {
        operationId: 'listWalletHolds',
        tags: ['holds'],
        security,
        summary: "A wallet's holds, newest first (at most 500)",
        description: 'Optionally only those of one status; not paged: the 500 newest.',
        params: WalletParams,
        querystring: HoldListQuery,
        response: { 200: HoldList, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => ({
      items: await payments.listHolds(principalOf(request), request.params.id, request.query.status),
    }),
  )

  app.post(
    '/transactions/:id/reversal',
    {
      config: { access: operators },
      schema: {
        operationId: 'reverseTransaction',
        tags: ['payments'],
        security,
        summary: 'Reverse a transaction, all or in part (a refund, for a purchase)',
        description: `Admins and services. Reversals of one transaction never add up to more than it; a reversal is not reversed. ${IDEMPOTENT}`,
        params: TransactionParams,
        headers: IdempotencyHeaders,
        body: ReversalBody,
        response: { 201: postedTransaction, ...movementErrors },
      },
    },
    (request, reply) =>
      replyIdempotently(request, reply, (claim, renderRefusal) =>
        idempotency.run(claim, {
          work: async (trx) => ({
            status: 201,
            body: wallets.transactionView(
              await payments.reverse(trx, principalOf(request), request.params.id, request.body),
              principalOf(request),
            ),
          }),
          renderRefusal,
        }),
      ),
  )
}
