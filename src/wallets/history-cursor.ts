import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import type { Db } from '../db/database.js'
import { InvalidCursor } from '../pagination.errors.js'

/**
 * History cursors are sealed with AES-256-GCM: a position in the ledger's global entry sequence
 * would tell any user how many entries the whole ledger holds, and a plain one could be edited.
 * The wallet id is the associated data, so a cursor of one wallet is refused on every other, and
 * the nonce is random, so two cursors of one position do not even look alike.
 *
 * Layout (base64url): version (1 byte) | nonce (12) | sealed seq (8) | tag (16).
 */
const VERSION = 1
const NONCE_BYTES = 12
const SEQ_BYTES = 8
const TAG_BYTES = 16
const SEALED_BYTES = 1 + NONCE_BYTES + SEQ_BYTES + TAG_BYTES
const KEY_BYTES = 32
/** The largest value of entries.seq, a PostgreSQL bigint. */
const MAX_SEQ = 2n ** 63n - 1n

function associatedData(walletId: string): Buffer {
  return Buffer.from(`coffer history cursor v${VERSION} ${walletId.toLowerCase()}`)
}

export function sealCursor(key: Buffer, walletId: string, seq: bigint): string {
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES })
  cipher.setAAD(associatedData(walletId))
  const plain = Buffer.alloc(SEQ_BYTES)
  plain.writeBigUInt64BE(seq)
  const sealed = Buffer.concat([cipher.update(plain), cipher.final()])
  return Buffer.concat([Buffer.of(VERSION), nonce, sealed, cipher.getAuthTag()]).toString('base64url')
}

/** The entry seq a cursor of this wallet stands for; InvalidCursor for anything this key did not seal for it. */
export function openCursor(key: Buffer, walletId: string, cursor: string): bigint {
  const bytes = Buffer.from(cursor, 'base64url')
  // Node's base64url decoder skips characters it does not know; a cursor must be exactly what was issued.
  if (bytes.length !== SEALED_BYTES || bytes.toString('base64url') !== cursor || bytes[0] !== VERSION) {
    throw new InvalidCursor()
  }
  const nonce = bytes.subarray(1, 1 + NONCE_BYTES)
  const sealed = bytes.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + SEQ_BYTES)
  const tag = bytes.subarray(1 + NONCE_BYTES + SEQ_BYTES)
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES })
  decipher.setAAD(associatedData(walletId))
  decipher.setAuthTag(tag)
  let plain: Buffer
  try {
    plain = Buffer.concat([decipher.update(sealed), decipher.final()])
  } catch {
    // final() throws when the tag does not match: tampered, truncated, another wallet's or another key's.
    throw new InvalidCursor()
  }
  const seq = plain.readBigUInt64BE()
  // Only seqs of real entries are ever sealed; a larger one would be a bug, answered as a bad cursor.
  if (seq > MAX_SEQ) throw new InvalidCursor()
  return seq
}

/**
 * The key every process of a deployment seals cursors with: kept in the database (migration 0007
 * makes it), loaded once per process on first use, since the container exists before migrations
 * have run. Should the row be gone (an operator rotating the key), the first process to look
 * makes a new one.
 */
export class HistoryCursors {
  private key: Promise<Buffer> | undefined

  constructor(private readonly db: Db) {}

  async seal(walletId: string, seq: bigint): Promise<string> {
    return sealCursor(await this.load(), walletId, seq)
  }

  async open(walletId: string, cursor: string): Promise<bigint> {
    return openCursor(await this.load(), walletId, cursor)
  }

  private load(): Promise<Buffer> {
    this.key ??= this.loadKey().catch((error: unknown) => {
      // A failed load (database briefly away) must not be remembered: the next request retries.
      this.key = undefined
      throw error
    })
    return this.key
  }

  private async loadKey(): Promise<Buffer> {
    let secret = await this.storedSecret()
    if (secret === undefined) {
      await this.db
        .insertInto('history_cursor_keys')
        .values({ id: 1, secret: randomBytes(KEY_BYTES).toString('base64url') })
        .onConflict((conflict) => conflict.doNothing())
        .execute()
      // Another process may have won the race; everyone uses the key that is in the table.
      secret = await this.storedSecret()
      if (secret === undefined) throw new Error('no history cursor key after generating one')
    }
    const key = Buffer.from(secret, 'base64url')
    if (key.length !== KEY_BYTES) throw new Error('history_cursor_keys holds a key of the wrong length')
    return key
  }

  private async storedSecret(): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('history_cursor_keys')
      .select('secret')
      .where('id', '=', 1)
      .executeTakeFirst()
    return row?.secret
  }
}
