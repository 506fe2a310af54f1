import { principalOf } from '../auth/access.js'
import type { App } from '../http/app-type.js'
import { replyIdempotently } from '../http/idempotency.js'
import { NoBody } from '../http/input.schemas.js'
import { problemResponses } from '../http/problem.schemas.js'
import { adminOnly, anyone, IdempotencyHeaders, movementErrors, security } from '../http/route-conventions.js'
import type { IdempotentWriter } from '../ledger/group-commit.js'
import {
  BalanceAt,
  BalanceAtQuery,
  CreateWalletBody,
  HistoryPage,
  HistoryQuery,
  LedgerTransaction,
  MovementBody,
  TransactionParams,
  TransferBody,
  Wallet,
  WalletList,
  WalletParams,
} from './wallets.schemas.js'
import type { WalletsService } from './wallets.service.js'

const tags = ['wallets']

export async function walletRoutes(
  app: App,
  deps: { wallets: WalletsService; idempotency: IdempotentWriter },
) {
  const { wallets, idempotency } = deps

  app.post(
    '/wallets',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        summary: "Create a wallet, or get the caller's existing wallet of that currency",
        body: CreateWalletBody,
        response: { 200: Wallet, 201: Wallet, ...problemResponses(400, 401, 403, 422) },
      },
    },
    async (request, reply) => {
      const { wallet, created } = await wallets.createWallet(principalOf(request), request.body)
      return reply.status(created ? 201 : 200).send(wallet)
    },
  )

  app.get(
    '/wallets',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        summary: "The caller's wallets",
        response: { 200: WalletList, ...problemResponses(401) },
      },
    },
    async (request) => ({ items: await wallets.listWallets(principalOf(request)) }),
  )

  app.get(
    '/wallets/:id',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        summary: 'One wallet',
        params: WalletParams,
        response: { 200: Wallet, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => wallets.getWallet(principalOf(request), request.params.id),
  )

  for (const action of ['freeze', 'unfreeze', 'close'] as const) {
    app.post(
      `/wallets/:id/${action}`,
      {
        config: { access: adminOnly },
        schema: {
          tags,
          security,
          summary: `${action[0]!.toUpperCase()}${action.slice(1)} a wallet (admin)`,
          params: WalletParams,
          body: NoBody,
          response: { 200: Wallet, ...problemResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) => wallets.changeStatus(request.params.id, action),
    )
  }

  const worldMovements = [
    { path: 'deposits', type: 'deposit', summary: 'Deposit into a wallet from outside the ledger' },
    { path: 'withdrawals', type: 'withdrawal', summary: 'Withdraw from a wallet to outside the ledger' },
  ] as const
  // Open to every role so that the refusal of a user is the explicit self_deposit_disabled (or
  // self_withdrawal_disabled), whose detail says how to enable it, not a bare forbidden.
  const worldMovementDescription =
    'Admins and services (a payment provider) may move money into or out of any wallet. The owner ' +
    'of the wallet may do it only when SELF_DEPOSITS is on (by default on the embedded database, ' +
    'off on PostgreSQL); otherwise 403 self_deposit_disabled or self_withdrawal_disabled.'
  for (const movement of worldMovements) {
    app.post(
      `/wallets/:id/${movement.path}`,
      {
        config: { access: anyone },
        schema: {
          tags,
          security,
          summary: movement.summary,
          description: worldMovementDescription,
          params: WalletParams,
          headers: IdempotencyHeaders,
          body: MovementBody,
          response: { 201: LedgerTransaction, ...movementErrors },
        },
      },
      (request, reply) =>
        replyIdempotently(request, reply, (claim, renderRefusal) =>
          idempotency.postMovement(claim, {
            build: () =>
              wallets.worldMovement(principalOf(request), request.params.id, movement.type, request.body),
            render: (posted) => wallets.transactionView(posted, principalOf(request)),
            renderRefusal,
          }),
        ),
    )
  }

  app.post(
    '/transfers',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        summary: 'Move money between two wallets of the same currency',
        headers: IdempotencyHeaders,
        body: TransferBody,
        response: { 201: LedgerTransaction, ...movementErrors },
      },
    },
    (request, reply) =>
      replyIdempotently(request, reply, (claim, renderRefusal) =>
        idempotency.postMovement(claim, {
          build: () => wallets.transfer(principalOf(request), request.body),
          render: (posted) => wallets.transactionView(posted, principalOf(request)),
          renderRefusal,
        }),
      ),
  )

  app.get(
    '/wallets/:id/transactions',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        summary: "A wallet's history, newest first, one page at a time",
        params: WalletParams,
        querystring: HistoryQuery,
        response: { 200: HistoryPage, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => wallets.history(principalOf(request), request.params.id, request.query),
  )

  app.get(
    '/wallets/:id/balance',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        summary: 'The balance as of an instant (default: now)',
        params: WalletParams,
        querystring: BalanceAtQuery,
        response: { 200: BalanceAt, ...problemResponses(400, 401, 404) },
      },
    },
    // Without `at`, the current wallet (the balance cache, else the primary), so a client's read
    // after its own write sees it; with `at`, the history on the replica.
    async (request) =>
      request.query.at
        ? wallets.balanceAt(principalOf(request), request.params.id, new Date(request.query.at))
        : wallets.currentBalance(principalOf(request), request.params.id),
  )

  app.get(
    '/transactions/:id',
    {
      config: { access: anyone },
      schema: {
        tags,
        security,
        summary: 'One transaction with its entries',
        params: TransactionParams,
        response: { 200: LedgerTransaction, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => wallets.getTransaction(principalOf(request), request.params.id),
  )
}
