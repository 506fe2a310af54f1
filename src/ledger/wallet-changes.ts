import type { Logger } from 'pino'
import type { Db, Trx } from '../db/database.js'

/** A wallet row as a transaction left it: what it is once that transaction has committed. */
export interface CommittedWallet {
  id: string
  userId: string
  currency: string
  balance: bigint
  pending: bigint
  status: 'active' | 'frozen' | 'closed'
  version: bigint
  createdAt: Date
  updatedAt: Date
}

export type CommittedListener = (wallets: CommittedWallet[]) => Promise<void>

/**
 * Collects the wallet states each database transaction writes and hands them to the listeners
 * once, and only once, that transaction has committed: the balance cache is written through from
 * here, before the writer answers, so a client's read after its own write sees it. A rolled-back
 * transaction publishes nothing, so no listener ever sees a state the database does not hold.
 *
 * Every transaction of Coffer's that can change a wallet row runs through `transaction()`; the
 * tests of the balance cache read after each such path. A change recorded in a transaction it did
 * not open (a tool seeding through the engine) reaches no listener: it is logged once, and the
 * cache catches up with it at its TTL.
 */
export class WalletChanges {
  private readonly recorded = new WeakMap<Trx, Map<string, CommittedWallet>>()
  private readonly listeners: CommittedListener[] = []
  private warnedUnopened = false

  constructor(private readonly logger?: Logger) {}

  onCommitted(listener: CommittedListener): void {
    this.listeners.push(listener)
  }

  /** Called by the writers of wallet rows with each row's state after their write. */
  record(trx: Trx, wallets: CommittedWallet[]): void {
    const states = this.recorded.get(trx)
    if (!states) {
      if (!this.warnedUnopened) {
        this.warnedUnopened = true
        this.logger?.warn(
          { walletIds: wallets.map((w) => w.id) },
          'wallet rows changed in a transaction not opened by WalletChanges: cached copies may lag until their TTL',
        )
      }
      return
    }
    for (const wallet of wallets) states.set(wallet.id, wallet)
  }

  /** Runs `fn` in a database transaction; after its commit, awaits the listeners with what it wrote. */
  async transaction<T>(db: Db, fn: (trx: Trx) => Promise<T>): Promise<T> {
    const states = new Map<string, CommittedWallet>()
    const result = await db.transaction().execute((trx) => {
      this.recorded.set(trx, states)
      return fn(trx)
    })
    if (states.size > 0) await this.publish([...states.values()])
    return result
  }

  private async publish(wallets: CommittedWallet[]): Promise<void> {
    await Promise.all(
      this.listeners.map(async (listener) => {
        try {
          await listener(wallets)
        } catch (error) {
          // The write has committed: a listener's trouble is its own, never the writer's answer.
          this.logger?.error({ err: error }, 'a listener of committed wallet changes failed')
        }
      }),
    )
  }
}
