import { describe, expect, it } from 'vitest'
import type { Db, Trx } from '../db/database.js'
import { type CommittedWallet, WalletChanges } from './wallet-changes.js'

/** A database whose transactions log when they commit or roll back, and nothing else. */
function fakeDb(log: string[]): Db {
  const db = {
    transaction: () => ({
      execute: async <T>(fn: (trx: Trx) => Promise<T>): Promise<T> => {
        const trx = {} as Trx
        try {
          const result = await fn(trx)
          log.push('commit')
          return result
        } catch (error) {
          log.push('rollback')
          throw error
        }
      },
    }),
  }
  return db as unknown as Db
}

function state(id: string, version: bigint): CommittedWallet {
  return {
    id,
    userId: 'u',
    currency: 'USD',
    balance: version * 10n,
    pending: 0n,
    status: 'active',
    version,
    createdAt: new Date(0),
    updatedAt: new Date(0),
  }
}

describe('WalletChanges', () => {
  it('publishes what a transaction recorded after its commit, the latest state per wallet', async () => {
    const log: string[] = []
    const changes = new WalletChanges()
    changes.onCommitted(async (wallets) => {
      log.push(`published ${wallets.map((w) => `${w.id}@${w.version}`).join(',')}`)
    })
    const result = await changes.transaction(fakeDb(log), async (trx) => {
      changes.record(trx, [state('a', 1n), state('b', 1n)])
      changes.record(trx, [state('a', 2n)])
      return 'done'
    })
    expect(result).toBe('done')
    expect(log).toEqual(['commit', 'published a@2,b@1'])
  })

  it('publishes nothing for a rolled-back transaction', async () => {
    const log: string[] = []
    const changes = new WalletChanges()
    changes.onCommitted(async () => {
      log.push('published')
    })
    await expect(
      changes.transaction(fakeDb(log), async (trx) => {
        changes.record(trx, [state('a', 1n)])
        throw new Error('refused')
      }),
    ).rejects.toThrow('refused')
    expect(log).toEqual(['rollback'])
  })

  it('awaits its listeners, and a failing listener never fails the committed write', async () => {
    const log: string[] = []
    const changes = new WalletChanges()
    changes.onCommitted(async () => {
      throw new Error('cache down')
    })
    changes.onCommitted(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20))
      log.push('slow listener done')
    })
    await changes.transaction(fakeDb(log), async (trx) => changes.record(trx, [state('a', 1n)]))
    expect(log).toEqual(['commit', 'slow listener done'])
  })

  it('keeps the changes of concurrent transactions apart', async () => {
    const published: string[][] = []
    const changes = new WalletChanges()
    changes.onCommitted(async (wallets) => {
      published.push(wallets.map((w) => w.id))
    })
    const db = fakeDb([])
    await Promise.all([
      changes.transaction(db, async (trx) => {
        await new Promise((resolve) => setTimeout(resolve, 10))
        changes.record(trx, [state('slow', 1n)])
      }),
      changes.transaction(db, async (trx) => changes.record(trx, [state('fast', 1n)])),
    ])
    expect(published).toEqual([['fast'], ['slow']])
  })
})
