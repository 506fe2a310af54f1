import { uuidv7 } from 'uuidv7'
import { hasRole, type Principal } from '../auth/principal.js'
import type { Db, Trx } from '../db/database.js'
import { outboxEvent } from '../events/outbox.js'
import { releaseRequest, settleHolds } from '../ledger/holds.js'
import { TransactionNotFound } from '../ledger/ledger.errors.js'
import type { HoldRow } from '../ledger/ledger.tables.js'
import type { PostingEngine } from '../ledger/posting-engine.js'
import type { Leg, PostedTransaction, PostingRequest } from '../ledger/posting-types.js'
import { type CurrencyRegistry, formatAmount, parseAmount } from '../money/index.js'
import type { TransactionView } from '../wallets/wallets.schemas.js'
import { seesEverything, type WalletsService } from '../wallets/wallets.service.js'
import {
  CaptureExceedsHold,
  ForceRequiresAdmin,
  HoldNotFound,
  HoldNotPending,
  InvalidExpiry,
  MerchantRequired,
  NotReversible,
  ReversalExceedsOriginal,
} from './payments.errors.js'
import {
  entriesWithAccounts,
  findAccountOwner,
  findHold,
  findHoldForUpdate,
  findTransactionForUpdate,
  getHold,
  insertHold,
  listHoldsOfWallet,
  reversedAmount,
} from './payments.repository.js'
import type {
  CaptureInput,
  CreateHoldInput,
  HoldView,
  PurchaseInput,
  ReversalInput,
} from './payments.schemas.js'

/** A purchase as it committed, for what else must happen in its transaction (loyalty points). */
export interface CompletedPurchase {
  transactionId: string
  userId: string
  walletId: string
  currency: string
  merchant: string
  amount: bigint
  orderId: string | null
}

/**
 * Told of each purchase and each refund of one, in that purchase's or refund's own database
 * transaction. Declared here, so payments depend on this narrow interface and not on its
 * implementer (the points module's earning rules), which the container wires in.
 */
export interface PurchaseListener {
  /** Whether a purchase in this currency may have something to do (a rule); false is never wrong to act on. */
  mayCare(currency: string): Promise<boolean>
  purchased(trx: Trx, purchase: CompletedPurchase): Promise<void>
  /** `refundedTotal` is all that has been refunded of the purchase, this refund included. */
  refunded(
    trx: Trx,
    refund: { purchaseTransactionId: string; purchaseAmount: bigint; refundedTotal: bigint; reason: string },
  ): Promise<void>
}

/** Transaction types whose entries a reversal may mirror. */
const REVERSIBLE = new Set(['deposit', 'withdrawal', 'transfer', 'purchase', 'capture', 'exchange'])

/** Purchases, two-phase holds, reversals and refunds, all posted through the ledger engine. */
export class PaymentsService {
  constructor(
    private readonly readDb: Db,
    private readonly engine: PostingEngine,
    private readonly currencies: CurrencyRegistry,
    private readonly wallets: WalletsService,
    private readonly listener: PurchaseListener | null = null,
  ) {}

  private format(minor: bigint, currency: string): string {
    return formatAmount(minor, this.currencies.require(currency))
  }

  holdView(row: HoldRow): HoldView {
    return {
      id: row.id,
      walletId: row.wallet_id,
      currency: row.currency,
      amount: this.format(row.amount, row.currency),
      capturedAmount: row.captured_amount === null ? null : this.format(row.captured_amount, row.currency),
      merchant: row.merchant,
      status: row.status,
      expiresAt: row.expires_at?.toISOString() ?? null,
      description: row.description,
      holdTransactionId: row.hold_transaction_id,
      settledTransactionId: row.settled_transaction_id,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    }
  }

  /** A purchase, built to be posted by group commit (ledger/group-commit.ts) with other callers' movements. */
  async purchase(principal: Principal, input: PurchaseInput): Promise<PostingRequest> {
    const wallet = await this.wallets.walletIdentity(principal, input.walletId)
    const currency = wallet.currency
    const amount = parseAmount(input.amount, this.currencies.require(currency))
    return {
      type: 'purchase',
      currency,
      amount,
      legs: [
        { account: { wallet: wallet.id }, currency, amount: -amount },
        { account: { system: { name: `merchant:${input.merchant}`, currency } }, currency, amount },
      ],
      reference: input.orderId,
      description: input.description,
      metadata: { ...input.metadata, merchant: input.merchant },
      authorize: this.wallets.ownedBy(principal, wallet.id),
      events: (posted) => [
        ...this.wallets.postedEvents(posted),
        outboxEvent(
          'purchase.completed',
          { type: 'transaction', id: posted.id },
          {
            transactionId: posted.id,
            walletId: wallet.id,
            merchant: input.merchant,
            orderId: input.orderId ?? null,
            amount: this.format(amount, currency),
            currency,
          },
        ),
      ],
    }
  }

  /**
   * A purchase posted in the caller's transaction, the listener told in that same transaction:
   * the points it earns commit with it or not at all.
   */
  async purchaseIn(trx: Trx, principal: Principal, input: PurchaseInput): Promise<PostedTransaction> {
    const request = await this.purchase(principal, input)
    const posted = await this.engine.postOne(trx, request)
    const walletEntry = posted.entries.find((e) => e.walletId !== null)!
    await this.listener?.purchased(trx, {
      transactionId: posted.id,
      userId: walletEntry.ownerUserId!,
      walletId: walletEntry.walletId!,
      currency: posted.currency,
      merchant: input.merchant,
      amount: posted.amount,
      orderId: input.orderId ?? null,
    })
    return posted
  }

  /**
   * Whether this purchase must post in its own transaction, for the listener, rather than with
   * other callers' movements by group commit (the default, and the faster).
   */
  async purchaseNeedsTransaction(principal: Principal, input: PurchaseInput): Promise<boolean> {
    if (!this.listener) return false
    try {
      const wallet = await this.wallets.walletIdentity(principal, input.walletId)
      return await this.listener.mayCare(wallet.currency)
    } catch {
      // Group commit's build meets the same refusal and records it under the key.
      return false
    }
  }

  async createHold(trx: Trx, principal: Principal, input: CreateHoldInput): Promise<HoldView> {
    const wallet = await this.wallets.walletIdentity(principal, input.walletId, trx)
    const currency = wallet.currency
    const amount = parseAmount(input.amount, this.currencies.require(currency))
    const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw new InvalidExpiry()
    const holdId = uuidv7()
    const posted = await this.engine.postOne(trx, {
      type: 'hold',
      currency,
      amount,
      legs: [],
      pendingChanges: [{ walletId: wallet.id, delta: amount }],
      description: input.description,
      metadata: { holdId, ...(input.merchant ? { merchant: input.merchant } : {}) },
      authorize: this.wallets.ownedBy(principal, wallet.id),
      events: (posted) => [
        outboxEvent(
          'hold.created',
          { type: 'hold', id: holdId },
          {
            holdId,
            walletId: wallet.id,
            amount: this.format(amount, currency),
            currency,
            merchant: input.merchant ?? null,
            expiresAt: expiresAt?.toISOString() ?? null,
            transactionId: posted.id,
          },
        ),
      ],
    })
    const row = await insertHold(trx, {
      id: holdId,
      wallet_id: wallet.id,
      currency,
      amount,
      merchant: input.merchant ?? null,
      expires_at: expiresAt,
      description: input.description ?? null,
      hold_transaction_id: posted.id,
      created_at: posted.createdAt,
      updated_at: posted.createdAt,
    })
    return this.holdView(row)
  }

  /** The hold, locked for a transition: a second capture or void waits here, then sees it settled. */
  private async lockPendingHold(trx: Trx, principal: Principal, holdId: string): Promise<HoldRow> {
    const row = await findHoldForUpdate(trx, holdId)
    if (!row) throw new HoldNotFound({ holdId })
    await this.wallets.knowCurrencies([row.currency])
    if (!seesEverything(principal)) {
      const wallet = await findAccountOwner(trx, row.wallet_id)
      if (wallet?.user_id !== principal.userId) throw new HoldNotFound({ holdId })
    }
    if (row.status !== 'pending') throw new HoldNotPending({ holdId, status: row.status })
    // An overdue hold is expired even before the worker has released it.
    if (row.expires_at && row.expires_at.getTime() <= Date.now())
      throw new HoldNotPending({ holdId, status: 'expired' })
    return row
  }

  private async reloadHold(trx: Trx, holdId: string): Promise<HoldView> {
    return this.holdView(await getHold(trx, holdId))
  }

  async captureHold(
    trx: Trx,
    principal: Principal,
    holdId: string,
    input: CaptureInput,
  ): Promise<{ hold: HoldView; transaction: TransactionView }> {
    const hold = await this.lockPendingHold(trx, principal, holdId)
    const currency = hold.currency
    const amount =
      input.amount === undefined ? hold.amount : parseAmount(input.amount, this.currencies.require(currency))
    if (amount > hold.amount) {
      throw new CaptureExceedsHold({
        holdId,
        held: this.format(hold.amount, currency),
        requested: this.format(amount, currency),
      })
    }
    const merchant = input.merchant ?? hold.merchant
    if (!merchant) throw new MerchantRequired()
    const request = {
      id: uuidv7(),
      type: 'capture' as const,
      currency,
      amount,
      legs: [
        { account: { wallet: hold.wallet_id }, currency, amount: -amount },
        { account: { system: { name: `merchant:${merchant}`, currency } }, currency, amount },
      ],
      // The whole reserve goes: the captured part leaves as money, the rest is released.
      pendingChanges: [{ walletId: hold.wallet_id, delta: -hold.amount }],
      reference: holdId,
      description: hold.description,
      metadata: { holdId, merchant },
      events: (posted: PostedTransaction) => [
        ...this.wallets.postedEvents(posted),
        outboxEvent(
          'hold.captured',
          { type: 'hold', id: holdId },
          {
            holdId,
            walletId: hold.wallet_id,
            merchant,
            captured: this.format(amount, currency),
            released: this.format(hold.amount - amount, currency),
            currency,
            transactionId: posted.id,
          },
        ),
      ],
    }
    const posted = await this.engine.postOne(trx, request)
    await settleHolds(trx, [{ hold, request, capturedAmount: amount }], 'captured')
    return {
      hold: await this.reloadHold(trx, holdId),
      transaction: this.wallets.transactionView(posted, principal),
    }
  }

  async voidHold(
    trx: Trx,
    principal: Principal,
    holdId: string,
  ): Promise<{ hold: HoldView; transaction: TransactionView }> {
    const hold = await this.lockPendingHold(trx, principal, holdId)
    const request = releaseRequest(hold, 'voided', (minor, code) => this.format(minor, code))
    const posted = await this.engine.postOne(trx, request)
    await settleHolds(trx, [{ hold, request }], 'voided')
    return {
      hold: await this.reloadHold(trx, holdId),
      transaction: this.wallets.transactionView(posted, principal),
    }
  }

  async getHold(principal: Principal, holdId: string): Promise<HoldView> {
    const row = await findHold(this.readDb, holdId)
    if (!row) throw new HoldNotFound({ holdId })
    try {
      await this.wallets.visibleWallet(principal, row.wallet_id, this.readDb)
    } catch {
      throw new HoldNotFound({ holdId })
    }
    return this.holdView(row)
  }

  async listHolds(principal: Principal, walletId: string, status?: HoldRow['status']): Promise<HoldView[]> {
    await this.wallets.visibleWallet(principal, walletId, this.readDb)
    const rows = await listHoldsOfWallet(this.readDb, walletId, status)
    return rows.map((row) => this.holdView(row))
  }

  /**
   * A new transaction with the original's entries mirrored, all or in part. The original's row
   * is locked, so concurrent reversals of one transaction are checked one after another and
   * together never exceed it.
   */
  async reverse(
    trx: Trx,
    principal: Principal,
    transactionId: string,
    input: ReversalInput,
  ): Promise<PostedTransaction> {
    if (input.force && !hasRole(principal, 'admin')) throw new ForceRequiresAdmin()
    const original = await findTransactionForUpdate(trx, transactionId)
    if (!original) throw new TransactionNotFound({ transactionId })
    await this.wallets.knowCurrencies([original.currency])
    if (original.type === 'reversal')
      throw new NotReversible({ transactionId, reason: 'it is itself a reversal' })
    if (!REVERSIBLE.has(original.type)) {
      throw new NotReversible({
        transactionId,
        reason: `a ${original.type} moves no money; void or capture the hold`,
      })
    }
    const remaining = original.amount - (await reversedAmount(trx, transactionId))
    const amount =
      input.amount === undefined
        ? remaining
        : parseAmount(input.amount, this.currencies.require(original.currency))
    if (amount > remaining || remaining <= 0n) {
      throw new ReversalExceedsOriginal({
        transactionId,
        remaining: this.format(remaining, original.currency),
      })
    }
    const entries = await entriesWithAccounts(trx, transactionId)
    const currencies = new Set(entries.map((e) => e.currency))
    if (currencies.size > 1 && amount !== original.amount) {
      throw new NotReversible({ transactionId, reason: 'an exchange can only be reversed whole' })
    }
    // Each entry scales by amount/original; two-sided single-currency movements stay exact.
    const legs: Leg[] = entries.map((e) => {
      const scaled = (-e.amount * amount) / original.amount
      return {
        account:
          e.kind === 'wallet'
            ? { wallet: e.account_id }
            : { system: { name: e.name!, currency: e.currency } },
        currency: e.currency,
        amount: scaled,
      }
    })
    const walletIds = entries.filter((e) => e.kind === 'wallet').map((e) => e.account_id)
    const reversal = await this.engine.postOne(trx, {
      type: 'reversal',
      currency: original.currency,
      amount,
      legs,
      reversesId: transactionId,
      description: input.reason,
      metadata: { reason: input.reason, reversedType: original.type },
      flags: input.force ? ['forced'] : [],
      overdraftAllowed: input.force ? walletIds : [],
      events: (posted) => [
        ...this.wallets.postedEvents(posted),
        outboxEvent(
          'transaction.reversed',
          { type: 'transaction', id: transactionId },
          {
            transactionId,
            reversalId: posted.id,
            amount: this.format(amount, original.currency),
            currency: original.currency,
            reason: input.reason,
            forced: Boolean(input.force),
          },
        ),
      ],
    })
    if (original.type === 'purchase') {
      await this.listener?.refunded(trx, {
        purchaseTransactionId: transactionId,
        purchaseAmount: original.amount,
        refundedTotal: original.amount - remaining + amount,
        reason: input.reason,
      })
    }
    return reversal
  }
}
