import { Readable, Writable } from 'node:stream'
import type { Db } from '../db/database.js'
import { deleteFileParts, insertFilePart, readFilePart } from './statements.repository.js'

/** Parts of 1 MiB: a row each, big enough to be few, small enough never to strain a connection. */
export const FILE_PART_BYTES = 1024 * 1024

/** Writes a statement's file into the database, a part at a time, as the renderer produces it. */
export class FilePartsWriter extends Writable {
  private pending: Buffer[] = []
  private pendingBytes = 0
  private part = 0

  constructor(
    private readonly db: Db,
    private readonly jobId: string,
  ) {
    super({ highWaterMark: FILE_PART_BYTES })
  }

  /** Removes what an earlier, interrupted attempt at this job wrote. */
  async reset(): Promise<void> {
    await deleteFileParts(this.db, this.jobId)
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.pending.push(chunk)
    this.pendingBytes += chunk.length
    if (this.pendingBytes < FILE_PART_BYTES) {
      callback()
      return
    }
    this.flushFull().then(() => callback(), callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.flushFull()
      .then(() => (this.pendingBytes > 0 ? this.store(Buffer.concat(this.pending)) : undefined))
      .then(() => {
        this.pending = []
        this.pendingBytes = 0
        callback()
      }, callback)
  }

  private async flushFull(): Promise<void> {
    while (this.pendingBytes >= FILE_PART_BYTES) {
      const all = Buffer.concat(this.pending)
      await this.store(all.subarray(0, FILE_PART_BYTES))
      const rest = all.subarray(FILE_PART_BYTES)
      this.pending = rest.length > 0 ? [rest] : []
      this.pendingBytes = rest.length
    }
  }

  private async store(bytes: Buffer): Promise<void> {
    await insertFilePart(this.db, this.jobId, this.part, bytes)
    this.part += 1
  }
}

/** The stored file as a stream, one part in memory at a time. */
export function readFileParts(db: Db, jobId: string): Readable {
  async function* parts() {
    for (let part = 0; ; part += 1) {
      const bytes = await readFilePart(db, jobId, part)
      if (!bytes) return
      yield Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    }
  }
  return Readable.from(parts(), { objectMode: false })
}
