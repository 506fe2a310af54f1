import type { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { renderCsv } from './render-csv.js'
import { renderJson } from './render-json.js'
import type { RenderOptions } from './render-options.js'
import { renderPdf } from './render-pdf.js'
import { DigestingSink, endStream } from './statement-output.js'
import type { StatementFormat, StatementSource } from './statement-types.js'

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

export interface RenderedStatement {
  size: number
  sha256: string
  fingerprint: string
}

/**
 * Renders `source` in `format` into `out` (ended when done), counting and hashing what it wrote.
 * A PDF reads the lines twice, first for the fingerprint its footer prints; a CSV's fingerprint
 * is its own digest.
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
  else if (format === 'json') await renderJson(source, sink, options)
  else {
    fingerprint ??= await fingerprintOf(source)
    await renderPdf(source, sink, { ...options, fingerprint })
  }
  // Renderers end what they write to; wait until the sink has passed everything on.
  if (!sink.writableEnded) await endStream(sink)
  else if (!sink.writableFinished) await finished(sink)
  const sha256 = sink.digest()
  return {
    size: sink.size,
    sha256,
    fingerprint: fingerprint ?? (format === 'csv' ? sha256 : await fingerprintOf(source)),
  }
}
