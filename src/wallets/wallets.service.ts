import { uuidv7 } from 'uuidv7'
import { Forbidden, UserNotFound } from '../auth/auth.errors.js'
import { hasRole, type Principal } from '../auth/principal.js'
import type { CurrencyResolver } from '../currencies/currencies.service.js'
import type { Db, Trx } from '../db/database.js'
import { outboxEvent } from '../events/outbox.js'
import { TransactionNotFound, WalletClosed, WalletNotFound } from '../ledger/ledger.errors.js'
import type { PostingEngine } from '../ledger/posting-engine.js'
import type { PostedTransaction, PostingRequest } from '../ledger/posting-types.js'
import { type CurrencyRegistry, formatAmount, parseAmount } from '../money/index.js'
import { PointAssetNotAWallet } from '../points/points.errors.js'
import { type BalanceCache, type CachedWallet, servableFromCache } from './balance-cache.js'
import type { HistoryCursors } from './history-cursor.js'
import {
  SameWallet,
  SelfDepositDisabled,
  SelfWithdrawalDisabled,
  TransferTargetRequired,
  WalletNotEmpty,
} from './wallets.errors.js'
import * as repo from './wallets.repository.js'
import type {
  HistoryPageView,
  HistoryQueryInput,
  MovementInput,
  TransactionView,
  TransferInput,
  WalletView,
} from './wallets.schemas.js'

/** Admins and services act on any wallet; a user only on their own. */
export function seesEverything(principal: Principal): boolean {
  return hasRole(principal, 'admin', 'service')
}

/**
 * Whether a principal may see the balance of a wallet owned by `ownerUserId`: its own; admins and
 * services read every wallet.
 */
export function mayReadBalanceOf(principal: Principal, ownerUserId: string | null): boolean {
  return seesEverything(principal) || (ownerUserId !== null && ownerUserId === principal.userId)
}

/** What never changes about a wallet. */
export interface WalletIdentity {
  id: string
  userId: string
  currency: string
}

const WALLET_IDENTITY_CACHE_SIZE = 100_000

export class WalletsService {
  private readonly identities = new Map<string, WalletIdentity>()

  constructor(
    private readonly db: Db,
    private readonly readDb: Db,
    private readonly engine: PostingEngine,
    private readonly currencies: CurrencyRegistry,
    private readonly currencyResolver: CurrencyResolver,
    private readonly cursors: HistoryCursors,
    /** Whether a user may deposit into and withdraw from their own wallet (SELF_DEPOSITS). */
    private readonly selfDeposits: boolean,
    /** Current wallets for GET /wallets/{id} and its balance; null when BALANCE_CACHE is off. */
    private readonly cache: BalanceCache | null = null,
    /** Assets of loyalty point programs: their accounts live under /points, never as wallets. */
    private readonly isPointAsset: (currency: string) => boolean = () => false,
    /** Whether a user id names a user (the auth module's), for GET /wallets?userId=. */
    private readonly userExists: (userId: string) => Promise<boolean>,
  ) {}

  private format(minor: bigint, currency: string): string {
    return formatAmount(minor, this.currencies.require(currency))
  }

  /**
   * Makes sure this process knows the currencies of rows it read: an asset another process
   * defined moments ago is loaded on first sight, so nothing answers unknown_currency for it.
   */
  async knowCurrencies(codes: Iterable<string>): Promise<void> {
    for (const code of new Set(codes)) {
      if (!this.currencies.get(code)) await this.currencyResolver.resolve(code)
    }
  }

  walletView(row: repo.WalletRow): WalletView {
    return {
      id: row.id,
      userId: row.user_id,
      currency: row.currency,
      balance: this.format(row.balance, row.currency),
      available: this.format(row.balance - row.pending, row.currency),
      pending: this.format(row.pending, row.currency),
      status: row.status,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    }
  }

  /**
   * A transaction as `principal` may see it. A wallet entry of someone else (the other party of a
   * transfer) keeps its wallet id, which names the counterparty, but not its balance: sending
   * anyone 0.01 must not tell the sender what they hold. Every response built from a transaction
   * goes through here, so no route can show more.
   */
  transactionView(posted: PostedTransaction, principal: Principal): TransactionView {
    return this.renderTransaction(posted, (ownerUserId) => mayReadBalanceOf(principal, ownerUserId))
  }

  /** Every balance of the transaction, for the outbox: events are for Coffer's own consumers. */
  fullTransactionView(posted: PostedTransaction): TransactionView {
    return this.renderTransaction(posted, () => true)
  }

  private renderTransaction(
    posted: PostedTransaction,
    showsBalanceOf: (ownerUserId: string | null) => boolean,
  ): TransactionView {
    return {
      id: posted.id,
      type: posted.type,
      status: posted.status,
      amount: this.format(posted.amount, posted.currency),
      currency: posted.currency,
      entries: posted.entries.map((e) => ({
        ...(e.walletId ? { walletId: e.walletId } : { account: e.systemName ?? e.accountId }),
        currency: e.currency,
        amount: this.format(e.amount, e.currency),
        balanceAfter:
          e.balanceAfter === null || !showsBalanceOf(e.ownerUserId)
            ? null
            : this.format(e.balanceAfter, e.currency),
      })),
      reference: posted.reference,
      description: posted.description,
      metadata: posted.metadata,
      reversesId: posted.reversesId,
      flags: posted.flags,
      createdAt: posted.createdAt.toISOString(),
    }
  }

  /**
   * Owner and currency of a wallet the principal may use, for the movement paths. Both never
   * change once a wallet exists, so they are remembered and a movement needs no read before the
   * posting engine locks the row (which re-checks ownership on the locked row).
   */
  async walletIdentity(
    principal: Principal,
    walletId: string,
    db: Db | Trx = this.db,
  ): Promise<WalletIdentity> {
    let identity = this.identities.get(walletId)
    if (!identity) {
      // A replica behind the primary may not have a wallet opened a moment ago. A transaction is
      // on the primary already, and a read outside it would wait forever for the one connection
      // of the embedded database.
      const wallet =
        (await repo.findWallet(db, walletId)) ??
        (db === this.db || db.isTransaction ? undefined : await repo.findWallet(this.db, walletId))
      if (!wallet || this.isPointAsset(wallet.currency)) throw new WalletNotFound({ walletId })
      identity = { id: wallet.id, userId: wallet.user_id, currency: wallet.currency }
      if (this.identities.size >= WALLET_IDENTITY_CACHE_SIZE) {
        this.identities.delete(this.identities.keys().next().value!)
      }
      this.identities.set(walletId, identity)
    }
    if (!seesEverything(principal) && identity.userId !== principal.userId)
      throw new WalletNotFound({ walletId })
    await this.knowCurrencies([identity.currency])
    return identity
  }

  /** The wallet if the principal may use it; otherwise WalletNotFound, never revealing it exists. */
  async visibleWallet(
    principal: Principal,
    walletId: string,
    db: Db | Trx = this.db,
  ): Promise<repo.WalletRow> {
    const wallet = await repo.findWallet(db, walletId)
    if (
      !wallet ||
      this.isPointAsset(wallet.currency) ||
      (!seesEverything(principal) && wallet.user_id !== principal.userId)
    ) {
      throw new WalletNotFound({ walletId })
    }
    await this.knowCurrencies([wallet.currency])
    return wallet
  }

  async createWallet(
    principal: Principal,
    input: { currency: string; userId?: string },
  ): Promise<{ wallet: WalletView; created: boolean }> {
    const userId = input.userId ?? principal.userId
    if (!userId || (userId !== principal.userId && !seesEverything(principal))) throw new Forbidden()
    return this.db.transaction().execute(async (trx) => {
      // Read in this transaction under a share lock: a custom asset another process just defined
      // is found, and its decimals cannot change before this wallet commits.
      const currency = (await this.currencyResolver.resolve(input.currency, trx)).code
      if (this.isPointAsset(currency)) throw new PointAssetNotAWallet({ currency })
      const inserted = await repo.insertWalletIfAbsent(trx, { id: uuidv7(), userId, currency })
      if (inserted) {
        const view = this.walletView(inserted)
        await repo.insertOutboxEvents(trx, [
          outboxEvent('wallet.created', { type: 'wallet', id: view.id }, view),
        ])
        return { wallet: view, created: true }
      }
      const existing = await repo.findWalletOfUser(trx, userId, currency)
      return { wallet: this.walletView(existing!), created: false }
    })
  }

  async listWallets(principal: Principal, ownerUserId?: string): Promise<WalletView[]> {
    const owner = await this.ownerToList(principal, ownerUserId)
    if (!owner) return []
    // Balances are read from the primary: a client's write is never followed by an older balance.
    const rows = (await repo.listWalletsOfUser(this.db, owner)).filter(
      (row) => !this.isPointAsset(row.currency),
    )
    await this.knowCurrencies(rows.map((row) => row.currency))
    return rows.map((row) => this.walletView(row))
  }

  /**
   * Whose wallets GET /wallets lists: the caller's own by default. Admins and services may name
   * any user, who must exist; a user naming anyone else gets a 404 for that user, as GET /points
   * answers, so the answer says nothing about who exists.
   */
  private async ownerToList(principal: Principal, userId: string | undefined): Promise<string | null> {
    if (userId === undefined || userId === principal.userId) return principal.userId
    if (!seesEverything(principal) || !(await this.userExists(userId))) throw new UserNotFound({ userId })
    return userId
  }

  async getWallet(principal: Principal, walletId: string): Promise<WalletView> {
    return this.walletView(await this.currentWallet(principal, walletId))
  }

  /** The balance now: the current wallet row, as GET /wallets/{id} reads it. */
  async currentBalance(principal: Principal, walletId: string) {
    const at = new Date()
    const wallet = await this.currentWallet(principal, walletId)
    return {
      walletId,
      currency: wallet.currency,
      balance: this.format(wallet.balance, wallet.currency),
      at: at.toISOString(),
    }
  }

  /**
   * The wallet as it is now: from the balance cache when it has it and none of its holds may be
   * overdue, else from the primary (a replica may lag the client's own write), which then fills
   * the cache.
   */
  private async currentWallet(principal: Principal, walletId: string): Promise<repo.WalletRow> {
    const cached = await this.cache?.get(walletId)
    if (cached && servableFromCache(cached)) {
      if (!mayReadBalanceOf(principal, cached.user_id) || this.isPointAsset(cached.currency))
        throw new WalletNotFound({ walletId })
      await this.knowCurrencies([cached.currency])
      return cached
    }
    let wallet = await repo.findCurrentWallet(this.db, walletId)
    if (!wallet || !mayReadBalanceOf(principal, wallet.user_id) || this.isPointAsset(wallet.currency))
      throw new WalletNotFound({ walletId })
    await this.knowCurrencies([wallet.currency])
    // Lazy expiry: a reader never sees money reserved by a hold that has run out.
    if (wallet.pending > 0n && wallet.has_expired_holds) {
      await this.engine.changes.transaction(this.db, (trx) =>
        this.engine.releaseExpiredHolds(trx, [walletId]),
      )
      wallet = (await repo.findCurrentWallet(this.db, walletId))!
    }
    await this.cache?.put([this.cacheEntry(wallet)])
    return wallet
  }

  private cacheEntry(wallet: repo.CurrentWalletRow): CachedWallet {
    const { holds_expire_at, has_expired_holds, ...row } = wallet
    // An overdue hold another transaction has not released yet: read the database again next time.
    return { ...row, holdsExpireAt: has_expired_holds ? 'unknown' : holds_expire_at }
  }

  async changeStatus(walletId: string, action: 'freeze' | 'unfreeze' | 'close'): Promise<WalletView> {
    return this.engine.changes.transaction(this.db, async (trx) => {
      const wallet = await repo.lockWalletForStatusChange(trx, walletId)
      if (!wallet || this.isPointAsset(wallet.currency)) throw new WalletNotFound({ walletId })
      if (wallet.status === 'closed') throw new WalletClosed({ walletId })
      if (action === 'close' && (wallet.balance !== 0n || wallet.pending !== 0n))
        throw new WalletNotEmpty({ walletId })
      const status = action === 'freeze' ? 'frozen' : action === 'unfreeze' ? 'active' : 'closed'
      const updated = await repo.updateWalletStatus(trx, walletId, status)
      this.engine.changes.record(trx, [
        {
          id: updated.id,
          userId: updated.user_id,
          currency: updated.currency,
          balance: updated.balance,
          pending: updated.pending,
          status: updated.status,
          version: updated.version,
          createdAt: updated.created_at,
          updatedAt: updated.updated_at,
        },
      ])
      const view = this.walletView(updated)
      const type = { freeze: 'wallet.frozen', unfreeze: 'wallet.unfrozen', close: 'wallet.closed' }[action]
      await repo.insertOutboxEvents(trx, [outboxEvent(type, { type: 'wallet', id: walletId }, view)])
      return view
    })
  }

  /**
   * Ownership is checked by the engine on the locked rows, so it costs no extra query and cannot
   * race a change of owner.
   */
  ownedBy(principal: Principal, walletId: string): PostingRequest['authorize'] {
    if (seesEverything(principal)) return undefined
    return (wallets) => {
      const wallet = wallets.get(walletId)
      return wallet && wallet.userId === principal.userId ? null : new WalletNotFound({ walletId })
    }
  }

  postedEvents(posted: PostedTransaction) {
    return [
      outboxEvent(
        'transaction.posted',
        { type: 'transaction', id: posted.id },
        this.fullTransactionView(posted),
      ),
    ]
  }

  /**
   * Money entering (deposit) or leaving (withdrawal) the ledger: the wallet against the `world`
   * account of its currency. Movements are built here and posted by group commit
   * (ledger/group-commit.ts), which may post several callers' movements in one database transaction.
   */
  async worldMovement(
    principal: Principal,
    walletId: string,
    type: 'deposit' | 'withdrawal',
    input: MovementInput,
  ): Promise<PostingRequest> {
    // Refused before the wallet is looked up, so the answer says nothing about the wallet.
    if (!this.selfDeposits && !seesEverything(principal)) {
      throw type === 'deposit' ? new SelfDepositDisabled() : new SelfWithdrawalDisabled()
    }
    const { currency } = await this.walletIdentity(principal, walletId)
    const amount = parseAmount(input.amount, this.currencies.require(currency))
    const world = { account: { system: { name: 'world', currency } }, currency }
    const wallet = { account: { wallet: walletId }, currency }
    // Entries read in the direction the money moves: from the world, or to it.
    const legs =
      type === 'deposit'
        ? [
            { ...world, amount: -amount },
            { ...wallet, amount },
          ]
        : [
            { ...wallet, amount: -amount },
            { ...world, amount },
          ]
    return {
      type,
      currency,
      amount,
      legs,
      reference: input.reference,
      description: input.description,
      metadata: input.metadata,
      authorize: this.ownedBy(principal, walletId),
      events: (posted) => this.postedEvents(posted),
    }
  }

  async transfer(principal: Principal, input: TransferInput): Promise<PostingRequest> {
    if ((input.toWalletId === undefined) === (input.toUserId === undefined))
      throw new TransferTargetRequired()
    const source = await this.walletIdentity(principal, input.fromWalletId)
    const currency = source.currency
    const amount = parseAmount(input.amount, this.currencies.require(currency))
    let toWalletId = input.toWalletId
    if (input.toUserId !== undefined) {
      const target = await repo.findWalletOfUser(this.db, input.toUserId, currency)
      if (!target) throw new WalletNotFound({ walletId: `of user ${input.toUserId} in ${currency}` })
      toWalletId = target.id
    }
    if (toWalletId === source.id) throw new SameWallet()
    return {
      type: 'transfer',
      currency,
      amount,
      legs: [
        { account: { wallet: source.id }, currency, amount: -amount },
        { account: { wallet: toWalletId! }, currency, amount },
      ],
      reference: input.reference,
      description: input.description,
      metadata: input.metadata,
      authorize: this.ownedBy(principal, source.id),
      events: (posted) => this.postedEvents(posted),
    }
  }

  /**
   * Where to read a wallet's history and past balances: the replica once it has replayed the
   * wallet's latest change, otherwise the primary. The latest version comes from the balance cache
   * (written before every write answers) or the primary's row, so a client that wrote and then
   * reads, through any API process, never sees its history without its write, however far the
   * replica lags; and nobody sees a wallet's history go backwards.
   */
  async readerFor(walletId: string): Promise<Db> {
    if (this.readDb === this.db) return this.db
    const cached = await this.cache?.get(walletId)
    const latest = cached?.version ?? (await repo.walletVersion(this.db, walletId))
    if (latest === undefined) return this.db
    const replayed = await repo.walletVersion(this.readDb, walletId)
    return replayed !== undefined && replayed >= latest ? this.readDb : this.db
  }

  async history(principal: Principal, walletId: string, query: HistoryQueryInput): Promise<HistoryPageView> {
    // Owner and currency are all a page needs of the wallet: remembered, so a page is one query.
    const wallet = await this.walletIdentity(principal, walletId, this.readDb)
    const limit = query.limit ?? 50
    const rows = await repo.historyPage(await this.readerFor(walletId), {
      walletId,
      beforeSeq: query.cursor ? await this.cursors.open(walletId, query.cursor) : undefined,
      from: query.from ? new Date(query.from) : undefined,
      to: query.to ? new Date(query.to) : undefined,
      type: query.type,
      limit: limit + 1,
    })
    const page = rows.slice(0, limit)
    return {
      items: page.map((row) => ({
        transactionId: row.transaction_id,
        type: row.type,
        status: row.status,
        amount: this.format(row.amount, wallet.currency),
        balanceAfter: this.format(row.balance_after, wallet.currency),
        currency: wallet.currency,
        reference: row.reference,
        description: row.description,
        createdAt: row.created_at.toISOString(),
      })),
      nextCursor: rows.length > limit ? await this.cursors.seal(walletId, page[page.length - 1]!.seq) : null,
    }
  }

  async balanceAt(principal: Principal, walletId: string, at: Date) {
    const wallet = await this.walletIdentity(principal, walletId, this.readDb)
    const balance = await repo.balanceAt(await this.readerFor(walletId), walletId, at)
    return {
      walletId,
      currency: wallet.currency,
      balance: this.format(balance, wallet.currency),
      at: at.toISOString(),
    }
  }

  async getTransaction(principal: Principal, transactionId: string): Promise<TransactionView> {
    // A transaction committed a moment ago may not have reached the replica yet.
    const found =
      (await repo.findTransaction(this.readDb, transactionId)) ??
      (this.readDb === this.db ? undefined : await repo.findTransaction(this.db, transactionId))
    if (
      !found ||
      this.isPointAsset(found.transaction.currency) ||
      (!seesEverything(principal) && !found.ownerUserIds.some((userId) => userId === principal.userId))
    ) {
      throw new TransactionNotFound({ transactionId })
    }
    const { transaction, entries } = found
    await this.knowCurrencies([transaction.currency, ...entries.map((e) => e.currency)])
    return this.transactionView(
      {
        id: transaction.id,
        type: transaction.type as PostedTransaction['type'],
        status: transaction.status,
        currency: transaction.currency,
        amount: transaction.amount,
        reference: transaction.reference,
        description: transaction.description,
        metadata: transaction.metadata,
        reversesId: transaction.reverses_id,
        flags: transaction.flags,
        createdAt: transaction.created_at,
        entries: entries.map((e) => ({
          accountId: e.account_id,
          walletId: e.kind === 'wallet' ? e.account_id : null,
          ownerUserId: e.user_id,
          systemName: e.name,
          currency: e.currency,
          amount: e.amount,
          balanceAfter: e.balance_after,
        })),
      },
      principal,
    )
  }
}
