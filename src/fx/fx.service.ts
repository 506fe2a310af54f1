import { uuidv7 } from 'uuidv7'
import { hasRole, type Principal } from '../auth/principal.js'
import type { CurrenciesService } from '../currencies/currencies.service.js'
import type { Db, Trx } from '../db/database.js'
import { outboxEvent } from '../events/outbox.js'
import { callerScope } from '../ledger/idempotency-keys.js'
import { AmountTooLarge, WalletNotFound } from '../ledger/ledger.errors.js'
import type { PostingEngine } from '../ledger/posting-engine.js'
import { NUMERIC_LIMIT, type PostingRequest } from '../ledger/posting-types.js'
import { type Currency, formatAmount, parseAmount } from '../money/index.js'
import type { TransactionView } from '../wallets/wallets.schemas.js'
import type { WalletsService } from '../wallets/wallets.service.js'
import {
  ExchangeAmountTooSmall,
  ExchangeSameCurrency,
  FxQuoteExpired,
  FxQuoteMismatch,
  FxQuoteNotFound,
  FxQuoteUsed,
  FxRateNotFound,
} from './fx.errors.js'
import * as repo from './fx.repository.js'
import type {
  CreateFxQuoteInput,
  ExchangeInput,
  ExchangeView,
  FxQuoteView,
  FxRateListInput,
  FxRateView,
} from './fx.schemas.js'
import { convertAmount, type ExactRate, parseRate } from './rate.js'

export const FX_QUOTE_TTL_SECONDS = 30

function rateView(row: repo.FxRateRow): FxRateView {
  return { base: row.base, quote: row.quote, rate: row.rate, updatedAt: row.updated_at.toISOString() }
}

/**
 * Exchange rates, quotes and exchanges between two wallets of one owner.
 *
 * Only the rate set for the pair in that direction is used. The inverse of another pair is not
 * derived: buy and sell prices differ in practice, and 1/rate is in general not a finite decimal,
 * so it could not be stated exactly in the response. An admin sets each direction it offers.
 */
export class FxService {
  constructor(
    private readonly deps: {
      db: Db
      engine: PostingEngine
      currencies: CurrenciesService
      wallets: WalletsService
    },
  ) {}

  async listRates(filter: FxRateListInput): Promise<FxRateView[]> {
    const { currencies } = this.deps
    const rows = await repo.listRates(this.deps.db, {
      base: filter.base ? (await currencies.resolve(filter.base)).code : undefined,
      quote: filter.quote ? (await currencies.resolve(filter.quote)).code : undefined,
    })
    return rows.map(rateView)
  }

  async setRate(
    base: string,
    quote: string,
    rateText: string,
  ): Promise<{ rate: FxRateView; created: boolean }> {
    const [from, to] = await this.pair(base, quote)
    const rate = parseRate(rateText)
    const row = await repo.upsertRate(this.deps.db, { base: from.code, quote: to.code, rate: rate.text })
    return { rate: rateView(row), created: row.created }
  }

  async createQuote(principal: Principal, input: CreateFxQuoteInput): Promise<FxQuoteView> {
    const [from, to] = await this.pair(input.from, input.to)
    const debited = parseAmount(input.amount, from)
    const rate = await this.currentRate(this.deps.db, from, to)
    const credited = this.convert(debited, rate, from, to)
    if (credited >= NUMERIC_LIMIT) throw new AmountTooLarge()
    const row = await repo.insertQuote(
      this.deps.db,
      {
        id: uuidv7(),
        // A quote belongs to whoever asked for it, scoped as idempotency keys are.
        scope: callerScope(principal),
        from_currency: from.code,
        to_currency: to.code,
        rate: rate.text,
        debited,
        credited,
      },
      FX_QUOTE_TTL_SECONDS,
    )
    return {
      id: row.id,
      from: from.code,
      to: to.code,
      rate: row.rate,
      debited: formatAmount(debited, from),
      credited: formatAmount(credited, to),
      expiresAt: row.expires_at.toISOString(),
    }
  }

  /**
   * One posting through the fx system accounts: the source wallet pays `fx:FROM`, `fx:TO` pays the
   * target wallet, so each currency sums to zero on its own.
   */
  async exchange(trx: Trx, principal: Principal, input: ExchangeInput): Promise<ExchangeView> {
    const { currencies, wallets, engine } = this.deps
    const source = await wallets.walletIdentity(principal, input.fromWalletId, trx)
    const target = await wallets.walletIdentity(principal, input.toWalletId, trx)
    if (source.currency === target.currency) throw new ExchangeSameCurrency({ currency: source.currency })
    const from = await currencies.resolve(source.currency)
    const to = await currencies.resolve(target.currency)
    const debited = parseAmount(input.amount, from)

    const rate = input.quoteId
      ? await this.spendQuote(trx, principal, input.quoteId, { from, to, debited })
      : await this.currentRate(trx, from, to)
    const credited = this.convert(debited, rate, from, to)
    const quoteId = input.quoteId ?? null

    // The response shows the balances the caller may read; the outbox event shows every one.
    const view = (transaction: TransactionView): ExchangeView => ({
      transaction,
      rate: rate.text,
      fromCurrency: from.code,
      toCurrency: to.code,
      debited: formatAmount(debited, from),
      credited: formatAmount(credited, to),
      quoteId,
    })
    const posted = await engine.postOne(trx, {
      type: 'exchange',
      currency: from.code,
      amount: debited,
      legs: [
        { account: { wallet: source.id }, currency: from.code, amount: -debited },
        { account: { system: { name: 'fx', currency: from.code } }, currency: from.code, amount: debited },
        { account: { system: { name: 'fx', currency: to.code } }, currency: to.code, amount: -credited },
        { account: { wallet: target.id }, currency: to.code, amount: credited },
      ],
      reference: input.reference,
      description: input.description,
      // The rate stays with the transaction, so its history shows what it was converted at.
      metadata: { exchange: { rate: rate.text, quoteId } },
      authorize: this.ownsBoth(principal, [source.id, target.id]),
      events: (posted) => {
        const { transaction, ...exchange } = view(wallets.fullTransactionView(posted))
        return [
          outboxEvent('transaction.posted', { type: 'transaction', id: posted.id }, transaction),
          outboxEvent(
            'exchange.posted',
            { type: 'transaction', id: posted.id },
            {
              transactionId: posted.id,
              userId: source.userId,
              fromWalletId: source.id,
              toWalletId: target.id,
              ...exchange,
            },
          ),
        ]
      },
    })
    if (quoteId) await repo.markQuoteUsed(trx, quoteId, posted.id)
    return view(wallets.transactionView(posted, principal))
  }

  private async pair(base: string, quote: string): Promise<[Currency, Currency]> {
    const from = await this.deps.currencies.resolve(base)
    const to = await this.deps.currencies.resolve(quote)
    if (from.code === to.code) throw new ExchangeSameCurrency({ currency: from.code })
    return [from, to]
  }

  private async currentRate(db: Db | Trx, from: Currency, to: Currency): Promise<ExactRate> {
    const row = await repo.findRate(db, from.code, to.code)
    if (!row) throw new FxRateNotFound({ base: from.code, quote: to.code })
    return parseRate(row.rate)
  }

  private convert(debited: bigint, rate: ExactRate, from: Currency, to: Currency): bigint {
    const credited = convertAmount(debited, rate, from.decimals, to.decimals)
    if (credited === 0n) throw new ExchangeAmountTooSmall({ currency: to.code, rate: rate.text })
    return credited
  }

  /**
   * The quoted rate, if the quote is the caller's, unspent, unexpired and for exactly this exchange.
   * The row stays locked until the exchange commits; a refused exchange rolls back and leaves the
   * quote unspent.
   */
  private async spendQuote(
    trx: Trx,
    principal: Principal,
    quoteId: string,
    exchange: { from: Currency; to: Currency; debited: bigint },
  ): Promise<ExactRate> {
    const quote = await repo.lockQuote(trx, quoteId)
    if (!quote || quote.scope !== callerScope(principal)) throw new FxQuoteNotFound({ quoteId })
    if (quote.used_at) throw new FxQuoteUsed({ quoteId })
    if (quote.expired) throw new FxQuoteExpired({ quoteId, expiredAt: quote.expires_at.toISOString() })
    if (quote.from_currency !== exchange.from.code)
      throw new FxQuoteMismatch({ quoteId, field: 'fromCurrency' })
    if (quote.to_currency !== exchange.to.code) throw new FxQuoteMismatch({ quoteId, field: 'toCurrency' })
    if (quote.debited !== exchange.debited) throw new FxQuoteMismatch({ quoteId, field: 'amount' })
    return parseRate(quote.rate)
  }

  /** Both wallets must be the caller's; admins and services may exchange between any two. */
  private ownsBoth(principal: Principal, walletIds: string[]): PostingRequest['authorize'] {
    if (hasRole(principal, 'admin', 'service')) return undefined
    return (locked) => {
      for (const walletId of walletIds) {
        if (locked.get(walletId)?.userId !== principal.userId) return new WalletNotFound({ walletId })
      }
      return null
    }
  }
}
