import type { Writable } from 'node:stream'
import { stringify } from 'csv-stringify/sync'
import type { RenderOptions } from './render-options.js'
import { amountFormatter, ZonedClock } from './statement-format.js'
import { endStream, writeChunk } from './statement-output.js'
import type { StatementLine, StatementSource } from './statement-types.js'

export const CSV_COLUMNS = [
  'date',
  'type',
  'description',
  'reference',
  'counterparty',
  'transaction_id',
  'amount',
  'balance_after',
  'currency',
] as const

// RFC 4180 ends records with CRLF; no summary rows, so a spreadsheet or parser can sum `amount`.
// With an explicit record delimiter csv-stringify quotes only fields holding the whole CRLF, so a
// description with a bare LF or CR would split the record for a reader: quote_record_delimiter
// quotes those too.
const BODY_OPTIONS = { record_delimiter: 'windows', quote_record_delimiter: true } as const
const HEAD_OPTIONS = { ...BODY_OPTIONS, header: true, columns: [...CSV_COLUMNS] } as const

/**
 * Leading characters that make Excel, LibreOffice or Sheets read a cell as a formula, with the
 * full-width forms Apple Numbers normalises to them.
 */
const FORMULA_TRIGGER = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/

/**
 * CSV/formula injection guard (OWASP "CSV Injection"): accountants open statements in Excel, and a
 * description such as `=HYPERLINK(...)` would run as a formula. Free-text fields (description,
 * reference, counterparty) that start with `=`, `+`, `-`, `@`, tab or CR (or a full-width `=+-@`)
 * get a leading `'`, which spreadsheets show as text. Amounts and balances are never touched: they
 * are our own decimal strings, legitimately start with `-`, and must stay summable (which is also
 * why csv-stringify's own `escape_formulas` is not used: it would prefix negative amounts too).
 * The guarded text is what the fingerprint covers, so it stays deterministic.
 */
export function neutraliseFormula(text: string | null): string | null {
  if (text === null || !FORMULA_TRIGGER.test(text)) return text
  return `'${text}`
}

/**
 * Writes the statement as RFC 4180 CSV (header row, then one record per line, CRLF) and ends
 * `out` (on failure it is left open for the caller to destroy). Streams chunk by chunk with
 * backpressure, so a 1,000,000-line statement never sits in memory. The bytes depend only on the
 * source (no generation time), because their SHA-256 is the statement's fingerprint.
 */
export async function renderCsv(
  source: StatementSource,
  out: Writable,
  options: RenderOptions = {},
): Promise<void> {
  const { summary } = source
  const clock = new ZonedClock(summary.period.timeZone)
  const amount = amountFormatter(summary)
  const currency = summary.currency
  const record = (line: StatementLine) => [
    clock.timestamp(line.at),
    line.type,
    neutraliseFormula(line.description),
    neutraliseFormula(line.reference),
    neutraliseFormula(line.counterparty),
    line.transactionId,
    amount(line.amount),
    amount(line.balanceAfter),
    currency,
  ]

  // csv-stringify's sync API once per chunk: the same quoting as its stream API (and as fast), but
  // backpressure stays one awaited write per chunk instead of a Transform piped in between, and a
  // failing source leaves no half-piped stream behind. Memory is bounded by the chunk size.
  await writeChunk(out, stringify([], HEAD_OPTIONS))
  let done = 0
  for await (const chunk of source.lines()) {
    if (chunk.length === 0) continue
    await writeChunk(out, stringify(chunk.map(record), BODY_OPTIONS))
    done += chunk.length
    await options.onProgress?.(done)
  }
  await endStream(out)
}
