import { principalOf } from '../auth/access.js'
import type { App } from '../http/app-type.js'
import { replyIdempotently } from '../http/idempotency.js'
import { NoBody } from '../http/input.schemas.js'
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
  WalletListQuery,
  WalletParams,
} from './wallets.schemas.js'
import type { WalletsService } from './wallets.service.js'

const tags = ['wallets']
const postedTransaction = jsonResponse(LedgerTransaction, { description: 'The posted transaction' })

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
        operationId: 'createWallet',
        tags,
        security,
        summary: "Create a wallet, or get the caller's existing wallet of that currency",
        description:
          'One wallet per user and currency, so this is safe to repeat: 201 with a new wallet, 200 with the one that exists. Admins and services may open a wallet for another user with userId.',
        body: CreateWalletBody,
        response: {
          200: jsonResponse(Wallet, { description: 'The wallet of that currency the user already had' }),
          201: jsonResponse(Wallet, { description: 'The new wallet' }),
          ...problemResponses(400, 401, 403, 422),
        },
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
        operationId: 'listWallets',
        tags,
        security,
        summary: "The caller's wallets, or (admins and services) those of the user named by userId",
        description:
          'Every wallet of the user, in one list (a user has at most one per currency). A user may name only themselves with userId: anyone else is 404 user_not_found, as is a userId that names nobody.',
        querystring: WalletListQuery,
        response: { 200: WalletList, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => ({ items: await wallets.listWallets(principalOf(request), request.query.userId) }),
  )

  app.get(
    '/wallets/:id',
    {
      config: { access: anyone },
      schema: {
        operationId: 'getWallet',
        tags,
        security,
        summary: 'One wallet',
        description:
          "The wallet with its balance, available and pending amounts. Another user's wallet is 404; admins and services see any.",
        params: WalletParams,
        response: { 200: Wallet, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => wallets.getWallet(principalOf(request), request.params.id),
  )

  const walletStatusDescriptions = {
    freeze:
      'Admins only. A frozen wallet neither pays nor receives; holds on it can still be voided or expire.',
    unfreeze: 'Admins only. The wallet is active again.',
    close: 'Admins only. For good: a closed wallet takes no movement and cannot be reopened.',
  }
  for (const action of ['freeze', 'unfreeze', 'close'] as const) {
    app.post(
      `/wallets/:id/${action}`,
      {
        config: { access: adminOnly },
        schema: {
          operationId: `${action}Wallet`,
          tags,
          security,
          summary: `${action[0]!.toUpperCase()}${action.slice(1)} a wallet (admin)`,
          description: walletStatusDescriptions[action],
          params: WalletParams,
          body: NoBody,
          response: { 200: Wallet, ...problemResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) => wallets.changeStatus(request.params.id, action),
    )
  }

  const worldMovements = [
    {
      path: 'deposits',
      type: 'deposit',
      operationId: 'createDeposit',
      summary: 'Deposit into a wallet from outside the ledger',
    },
    {
      path: 'withdrawals',
      type: 'withdrawal',
      operationId: 'createWithdrawal',
      summary: 'Withdraw from a wallet to outside the ledger',
    },
  ] as const
  // Open to every role so that the refusal of a user is the explicit self_deposit_disabled (or
  // self_withdrawal_disabled), whose detail says how to enable it, not a bare forbidden.
  const worldMovementDescription =
    'Admins and services (a payment provider) may move money into or out of any wallet. The owner ' +
    'of the wallet may do it only when SELF_DEPOSITS is on (by default on the embedded database, ' +
    'off on PostgreSQL); otherwise 403 self_deposit_disabled or self_withdrawal_disabled. ' +
    IDEMPOTENT
  for (const movement of worldMovements) {
    app.post(
      `/wallets/:id/${movement.path}`,
      {
        config: { access: anyone },
        schema: {
          operationId: movement.operationId,
          tags,
          security,
          summary: movement.summary,
          description: worldMovementDescription,
          params: WalletParams,
          headers: IdempotencyHeaders,
          body: MovementBody,
          response: { 201: postedTransaction, ...movementErrors },
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
        operationId: 'createTransfer',
        tags,
        security,
        summary: 'Move money between two wallets of the same currency',
        description: `From a wallet of the caller's (admins and services: any) to a wallet or to a user's wallet of that currency. ${IDEMPOTENT}`,
        headers: IdempotencyHeaders,
        body: TransferBody,
        response: { 201: postedTransaction, ...movementErrors },
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
        operationId: 'listWalletTransactions',
        tags,
        security,
        summary: "A wallet's history, newest first, one page at a time",
        description:
          'Paged by limit (default 50, at most 500) and cursor (the nextCursor of the previous page, null on the last); from, to and type narrow it. A page never skips or repeats a row while money moves.',
        params: WalletParams,
        querystring: HistoryQuery,
        response: {
          200: jsonResponse(HistoryPage, { description: 'A page of the history, newest first' }),
          ...problemResponses(400, 401, 404),
        },
      },
    },
    async (request) => wallets.history(principalOf(request), request.params.id, request.query),
  )

  app.get(
    '/wallets/:id/balance',
    {
      config: { access: anyone },
      schema: {
        operationId: 'getWalletBalance',
        tags,
        security,
        summary: 'The balance as of an instant (default: now)',
        description:
          "Without at, the current balance, which reflects the caller's own writes at once; with at, the balance after every entry before that instant.",
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
        operationId: 'getTransaction',
        tags,
        security,
        summary: 'One transaction with its entries',
        description:
          "A transaction that touches one of the caller's wallets (admins and services: any); the balances of other users' wallets are left out.",
        params: TransactionParams,
        response: { 200: LedgerTransaction, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => wallets.getTransaction(principalOf(request), request.params.id),
  )
}
