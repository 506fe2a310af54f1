import { uuidv7 } from 'uuidv7'
import type { Db, Trx } from '../db/database.js'
import type { CurrencyRegistry } from '../money/index.js'
import { parsePoints } from './lot-draws.js'
import { InvalidEarningRules } from './points.errors.js'
import * as repo from './points.repository.js'
import type { RulesInput, RulesView } from './points.schemas.js'

/** What a purchase earns under a rule: points per major unit, rounded down, and its windows. */
export interface MatchedRule {
  points: bigint
  pendingDays: number
  expiryDays: number | null
}

/**
 * Earning rules of a program: the admin replaces the whole set at once. A purchase takes the
 * first rule of its currency naming its merchant, else the first of its currency for every
 * merchant; no rule, no points.
 */
/** How long this process trusts its copy of which currencies have rules; another process's PUT shows after it. */
const RULE_CURRENCIES_TTL_MS = 5000

export class EarningRules {
  private ruleCurrencies: { currencies: Set<string>; readAt: number } | null = null

  constructor(
    private readonly db: Db,
    private readonly currencies: CurrencyRegistry,
    private readonly program = 'default',
  ) {}

  async list(db: Db | Trx = this.db): Promise<RulesView> {
    const rows = await repo.listRules(db, this.program)
    return {
      rules: rows.map((row) => ({
        currency: row.currency,
        pointsPerUnit: row.points_per_unit.toString(),
        merchant: row.merchant,
        pendingDays: row.pending_days,
        expiryDays: row.expiry_days,
      })),
    }
  }

  async replace(input: RulesInput): Promise<RulesView> {
    const rules = input.rules.map((rule, index) => {
      const currency = this.currencies.get(rule.currency)
      if (!currency)
        throw new InvalidEarningRules({ reason: `rule ${index}: unknown currency ${rule.currency}` })
      const perUnit = parsePoints(rule.pointsPerUnit)
      if (typeof perUnit !== 'bigint')
        throw new InvalidEarningRules({ reason: `rule ${index}: pointsPerUnit ${perUnit.refused}` })
      const expiryDays = rule.expiryDays ?? null
      if (expiryDays !== null && expiryDays <= rule.pendingDays)
        throw new InvalidEarningRules({ reason: `rule ${index}: expiryDays must be more than pendingDays` })
      return {
        id: uuidv7(),
        currency: currency.code,
        points_per_unit: perUnit,
        merchant: rule.merchant ?? null,
        pending_days: rule.pendingDays,
        expiry_days: expiryDays,
      }
    })
    await this.db.transaction().execute((trx) => repo.replaceRules(trx, this.program, rules))
    this.ruleCurrencies = null
    return this.list()
  }

  /**
   * Whether any rule names this currency, from a copy at most RULE_CURRENCIES_TTL_MS old: lets a
   * purchase in a currency without rules keep the group-commit path.
   */
  async hasRulesFor(currency: string): Promise<boolean> {
    if (!this.ruleCurrencies || Date.now() - this.ruleCurrencies.readAt > RULE_CURRENCIES_TTL_MS) {
      const rows = await repo.listRules(this.db, this.program)
      this.ruleCurrencies = { currencies: new Set(rows.map((r) => r.currency)), readAt: Date.now() }
    }
    return this.ruleCurrencies.currencies.has(currency)
  }

  /** The rule a purchase earns under, with its points, or null: no rule, no points. */
  async match(
    trx: Trx,
    purchase: { currency: string; merchant: string; amount: bigint },
  ): Promise<MatchedRule | null> {
    const rows = (await repo.listRules(trx, this.program)).filter((r) => r.currency === purchase.currency)
    const rule = rows.find((r) => r.merchant === purchase.merchant) ?? rows.find((r) => r.merchant === null)
    if (!rule) return null
    const decimals = this.currencies.require(purchase.currency).decimals
    const points = (purchase.amount * rule.points_per_unit) / 10n ** BigInt(decimals)
    if (points <= 0n) return null
    return { points, pendingDays: rule.pending_days, expiryDays: rule.expiry_days }
  }
}
