import type { EventEnvelope } from '../events/bus.js'

/** Who an event concerns: the wallets it names and the users owning them. */
export interface EventParties {
  walletIds: string[]
  /** Owners named by the event itself (wallet.*, exchange.posted); the wallets' owners are looked up. */
  userIds: string[]
}

/** Remembered wallet sets of recent transactions, for the events that name only a transaction. */
const RECENT_TRANSACTIONS = 10_000
/** Owners of wallets; an owner never changes, so an entry never goes stale. */
const OWNER_CACHE_SIZE = 50_000

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function uuidAt(record: Record<string, unknown>, key: string): string | null {
  const value = record[key]
  return typeof value === 'string' && UUID.test(value) ? value.toLowerCase() : null
}

/** Keeps insertion order and drops the oldest past `limit`. */
function remember<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > limit) map.delete(map.keys().next().value as K)
}

/** A wallet's owner, or null when there is no such wallet. */
export type WalletOwnerLookup = (walletId: string) => Promise<string | null>

/**
 * Which wallets and users an event concerns, from its data as the contracts state it
 * (src/events/contracts.ts): the entries of a transaction, a wallet's own id and owner, a hold's
 * or purchase's wallet, both wallets of an exchange. `transaction.reversed` and
 * `operation.succeeded` name only a transaction: the `transaction.posted` of that transaction is
 * written in the same database transaction just before them, so its wallets are remembered here
 * (bounded); after a restart between the two, such an event concerns no wallet.
 */
export class EventPartiesResolver {
  private readonly walletsOfTransaction = new Map<string, string[]>()
  private readonly owners = new Map<string, string>()

  constructor(private readonly ownerOf: WalletOwnerLookup) {}

  partiesOf(event: EventEnvelope): EventParties {
    const data = event.data
    const wallets = new Set<string>()
    const users = new Set<string>()
    const add = (id: string | null, into: Set<string>) => {
      if (id) into.add(id)
    }
    if (event.type.startsWith('wallet.')) {
      add(uuidAt(data, 'id'), wallets)
      add(uuidAt(data, 'userId'), users)
    }
    for (const key of ['walletId', 'fromWalletId', 'toWalletId']) add(uuidAt(data, key), wallets)
    if (event.type === 'exchange.posted') add(uuidAt(data, 'userId'), users)
    const entries = data.entries
    if (Array.isArray(entries)) {
      for (const entry of entries) {
        if (entry !== null && typeof entry === 'object')
          add(uuidAt(entry as Record<string, unknown>, 'walletId'), wallets)
      }
    }
    if (event.type === 'transaction.posted') {
      const transactionId = uuidAt(data, 'id')
      if (transactionId) remember(this.walletsOfTransaction, transactionId, [...wallets], RECENT_TRANSACTIONS)
    } else {
      for (const key of ['reversalId', 'transactionId']) {
        const transactionId = uuidAt(data, key)
        for (const walletId of (transactionId && this.walletsOfTransaction.get(transactionId)) || []) {
          wallets.add(walletId)
        }
      }
    }
    return { walletIds: [...wallets].sort(), userIds: [...users] }
  }

  /** The owners of `walletIds` (cached, bounded); a wallet that does not exist has none. */
  async ownersOf(walletIds: readonly string[]): Promise<string[]> {
    const owners = new Set<string>()
    for (const walletId of walletIds) {
      let owner = this.owners.get(walletId) ?? null
      if (!owner) {
        owner = await this.ownerOf(walletId)
        if (owner) remember(this.owners, walletId, owner, OWNER_CACHE_SIZE)
      }
      if (owner) owners.add(owner)
    }
    return [...owners]
  }
}

/**
 * What orders an event's deliveries to one subscription: its wallets, or, for an event that
 * concerns none, its aggregate.
 */
export function orderKeysOf(event: EventEnvelope, parties: EventParties): string[] {
  return parties.walletIds.length > 0 ? parties.walletIds : [`${event.aggregate.type}:${event.aggregate.id}`]
}
