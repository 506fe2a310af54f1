import type { Logger } from 'pino'
import type { Db, Trx } from '../db/database.js'
import {
  type Currency,
  CurrencyRegistry,
  InvalidCurrencyDefinition,
  normaliseCurrencyCode,
  UnknownCurrency,
} from '../money/index.js'
import { CurrencyInUse, CurrencyReserved } from './currencies.errors.js'
import * as repo from './currencies.repository.js'

/** How often each process re-reads the custom assets that other processes may have defined. */
export const CURRENCY_RELOAD_INTERVAL_MS = 5_000

/** What wallet creation needs: a currency by code, custom assets included, as the database has it. */
export interface CurrencyResolver {
  resolve(code: string, trx?: Trx): Promise<Currency>
}

/**
 * Custom assets (e.g. USDT with 6 decimals) persisted in `currencies` and mirrored into the
 * process's CurrencyRegistry, which the money code reads synchronously.
 *
 * Several processes share one database, each with its own registry. A process learns of an asset
 * another one defined in three ways: at start-up (load), on a miss (resolve), and every
 * CURRENCY_RELOAD_INTERVAL_MS (keepFresh). Decimals may only change while no account uses the
 * asset; wallet creation reads the definition under a share lock in its own transaction, and a
 * change of decimals takes the row lock before it checks for accounts, so a wallet can never be
 * created against decimals that are being changed.
 */
export class CurrenciesService implements CurrencyResolver {
  /** ISO 4217 and the built-in assets (PTS): they come with the code and can never be redefined. */
  readonly #builtIn = new CurrencyRegistry()

  constructor(
    private readonly db: Db,
    private readonly registry: CurrencyRegistry,
    private readonly logger: Logger,
  ) {}

  /** Defines every stored custom asset in the registry, replacing what it held for them. */
  async load(db: Db | Trx = this.db): Promise<void> {
    for (const row of await repo.listCustomCurrencies(db)) this.registry.define(row)
  }

  /** Reloads custom assets every `intervalMs`; call the returned function to stop. */
  keepFresh(intervalMs = CURRENCY_RELOAD_INTERVAL_MS): () => Promise<void> {
    let reloading: Promise<void> = Promise.resolve()
    const timer = setInterval(() => {
      reloading = this.load().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'reloading custom currencies failed; keeping the previous ones'),
      )
    }, intervalMs)
    timer.unref()
    return async () => {
      clearInterval(timer)
      await reloading
    }
  }

  async list(kind?: Currency['kind']): Promise<Currency[]> {
    await this.load()
    const all = this.registry.list()
    return kind ? all.filter((currency) => currency.kind === kind) : all
  }

  /**
   * A currency by code, any case. Built-in codes never touch the database. A custom asset comes
   * from the registry, or on a miss from the database (another process may have just defined it).
   * Given a transaction, a custom asset is always read from the database under a share lock, so
   * the caller's writes in that transaction see exactly the stored decimals.
   */
  async resolve(code: string, trx?: Trx): Promise<Currency> {
    const builtIn = this.#builtIn.get(code)
    if (builtIn) return builtIn
    const cached = this.registry.get(code)
    if (cached && !trx) return cached
    let normalised: string
    try {
      normalised = normaliseCurrencyCode(code)
    } catch {
      throw new UnknownCurrency({ currency: code })
    }
    const row = await repo.findCustomCurrency(trx ?? this.db, normalised, trx ? 'share' : undefined)
    if (!row) throw new UnknownCurrency({ currency: code })
    return this.registry.define(row)
  }

  /** Adds a custom asset or renames one; its decimals change only while no account uses it. */
  async define(
    rawCode: string,
    input: { decimals: number; name: string },
  ): Promise<{ currency: Currency; created: boolean }> {
    const code = normaliseCurrencyCode(rawCode)
    const builtIn = this.#builtIn.get(code)
    if (builtIn) {
      throw new CurrencyReserved({
        currency: code,
        reason: builtIn.kind === 'iso4217' ? 'iso4217' : 'built_in',
      })
    }
    const name = input.name.trim()
    if (name === '')
      throw new InvalidCurrencyDefinition(`${code} needs a non-empty name`, { currency: code, field: 'name' })
    const wanted = { code, decimals: input.decimals, name }

    const { row, created } = await this.db.transaction().execute(async (trx) => {
      const inserted = await repo.insertCustomCurrencyIfAbsent(trx, wanted)
      if (inserted) return { row: inserted, created: true }
      // The row exists and is committed (the insert above waited for any concurrent one); lock it
      // before looking for accounts, so a wallet being created now either is seen or waits.
      const existing = (await repo.findCustomCurrency(trx, code, 'update'))!
      if (existing.decimals !== wanted.decimals && (await repo.isCurrencyInUse(trx, code))) {
        throw new CurrencyInUse({ currency: code, decimals: existing.decimals })
      }
      return { row: await repo.updateCustomCurrency(trx, wanted), created: false }
    })
    return { currency: this.registry.define(row), created }
  }
}
