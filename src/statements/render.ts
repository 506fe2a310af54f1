import { createHash } from 'node:crypto'
import type { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { CsvEncoder, renderCsv } from './render-csv.js'
import { renderJson } from './render-json.js'
import type { RenderOptions } from './render-options.js'
import { renderPdf } from './render-pdf.js'
import { DigestingSink, endStream } from './statement-output.js'
import type { StatementFormat, StatementLine, StatementSource } from './statement-types.js'

/**
 * A statement's fingerprint is the SHA-256 of its CSV form: the same figure for the JSON, CSV and
 * PDF of one statement, printed in the PDF's footer, and what `sha256sum` says of the CSV file.
 */
export async function fingerprintOf(source: StatementSource): Promise<string> {
  const sink = new DigestingSink()
  await renderCsv(source, sink)
  if (!sink.writableEnded) await endStream(sink)
  else if (!sink.writableFinished) await finished(sink)
  return sink.digest()
}

/**
 * `source` with the CSV form of its lines hashed as they pass, so a JSON or PDF render learns the
 * fingerprint in its own pass over the lines instead of a second one. `digest()` is the
 * fingerprint once the lines have been read to the end, once.
 */
export function fingerprinting(source: StatementSource): { source: StatementSource; digest(): string } {
  const csv = new CsvEncoder(source.summary)
  const hash = createHash('sha256').update(csv.head)
  let done = false
  let fingerprint: string | undefined
  return {
    source: {
      summary: source.summary,
      async *lines(chunkSize?: number): AsyncIterable<StatementLine[]> {
        for await (const chunk of source.lines(chunkSize)) {
          hash.update(csv.records(chunk))
          yield chunk
        }
        done = true
      },
    },
    digest() {
      if (!done) throw new Error('fingerprint asked for before every line was read')
      fingerprint ??= hash.digest('hex')
      return fingerprint
    },
  }
}

export interface RenderedStatement {
  size: number
  sha256: string
  fingerprint: string
}

/**
 * Renders `source` in `format` into `out` (ended when done), counting and hashing what it wrote.
 * Every format reads the lines once: a CSV's fingerprint is its own digest; a JSON or PDF hashes
 * the CSV form of each chunk as it renders it (the PDF prints it in every footer through a form
 * written at the end).
 */
export async function renderStatement(
  source: StatementSource,
  format: StatementFormat,
  out: Writable,
  options: RenderOptions & { fingerprint?: string } = {},
): Promise<RenderedStatement> {
  const sink = new DigestingSink(out)
  let fingerprint = options.fingerprint
  if (format === 'csv') await renderCsv(source, sink, options)
  else if (fingerprint !== undefined) {
    if (format === 'json') await renderJson(source, sink, options)
    else await renderPdf(source, sink, { ...options, fingerprint })
  } else {
    const hashed = fingerprinting(source)
    if (format === 'json') await renderJson(hashed.source, sink, options)
    else await renderPdf(hashed.source, sink, { ...options, fingerprint: hashed.digest })
    fingerprint = hashed.digest()
  }
  // Renderers end what they write to; wait until the sink has passed everything on.
  if (!sink.writableEnded) await endStream(sink)
  else if (!sink.writableFinished) await finished(sink)
  const sha256 = sink.digest()
  return { size: sink.size, sha256, fingerprint: fingerprint ?? sha256 }
}
