import { Readable, Writable } from 'node:stream'
import type { Db } from '../db/database.js'
import { deleteFileParts, insertFilePart, readFilePart } from './statements.repository.js'

/** Parts of 1 MiB: a row each, big enough to be few, small enough never to strain a connection. */
export const FILE_PART_BYTES = 1024 * 1024

/**
 * Writes a statement's file into the database, a part at a time, as the renderer produces it.
 * One part's insert runs while the renderer goes on (pg sends the Buffer as a binary parameter,
 * cheap for Node; storing 1 MiB takes PostgreSQL a few tens of ms): the renderer waits only when a
 * second part is full before the first is stored, so memory stays within two parts.
 */
export class FilePartsWriter extends Writable {
  private pending: Buffer[] = []
  private pendingBytes = 0
  private part = 0
  /** The insert in flight (settled when none); a failure surfaces at the next write or the end. */
  private storing: Promise<void> = Promise.resolve()

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
    this.storing.then(() => {
      this.storeFullParts()
      callback()
    }, callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.storing
      .then(() => {
        this.storeFullParts()
        if (this.pendingBytes > 0) this.store(Buffer.concat(this.pending))
        this.pending = []
        this.pendingBytes = 0
        return this.storing
      })
      .then(() => callback(), callback)
  }

  /** Queues an insert for every full part pending. */
  private storeFullParts(): void {
    if (this.pendingBytes < FILE_PART_BYTES) return
    const all = Buffer.concat(this.pending)
    let offset = 0
    for (; all.length - offset >= FILE_PART_BYTES; offset += FILE_PART_BYTES) {
      this.store(all.subarray(offset, offset + FILE_PART_BYTES))
    }
    const rest = all.subarray(offset)
    this.pending = rest.length > 0 ? [rest] : []
    this.pendingBytes = rest.length
  }

  /** Queues the next part's insert behind the one in flight. */
  private store(bytes: Buffer): void {
    const part = this.part++
    this.storing = this.storing.then(() => insertFilePart(this.db, this.jobId, part, bytes))
    // Awaited by the next write or the end; until then a failure must not count as unhandled.
    this.storing.catch(() => {})
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
