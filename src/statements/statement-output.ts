import { createHash } from 'node:crypto'
import { Writable } from 'node:stream'

/**
 * Where a renderer writes: counts and hashes every byte on its way to `target` (a file store,
 * an HTTP response), or to nowhere, when only the fingerprint is wanted.
 */
export class DigestingSink extends Writable {
  private readonly hash = createHash('sha256')
  private bytes = 0

  constructor(private readonly target?: Writable) {
    super()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.hash.update(chunk)
    this.bytes += chunk.length
    if (!this.target) {
      callback()
      return
    }
    if (this.target.write(chunk)) callback()
    else this.target.once('drain', () => callback())
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.target) {
      callback()
      return
    }
    this.target.end(() => callback())
  }

  get size(): number {
    return this.bytes
  }

  /** Hex SHA-256 of everything written; call once, after the sink finished. */
  digest(): string {
    return this.hash.digest('hex')
  }
}

/** Writes to a stream, waiting for it to drain: renderers keep memory flat whatever the line count. */
export async function writeChunk(out: Writable, chunk: string | Buffer): Promise<void> {
  if (out.write(chunk)) return
  await new Promise<void>((resolve, reject) => {
    const onDrain = () => {
      out.off('error', onError)
      resolve()
    }
    const onError = (error: Error) => {
      out.off('drain', onDrain)
      reject(error)
    }
    out.once('drain', onDrain)
    out.once('error', onError)
  })
}

/** Ends a stream and waits until it has flushed everything. */
export async function endStream(out: Writable): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject)
    out.end(() => {
      out.off('error', reject)
      resolve()
    })
  })
}
