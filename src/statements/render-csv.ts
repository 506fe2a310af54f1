import type { Writable } from 'node:stream'
import { stringify } from 'csv-stringify/sync'
import type { RenderOptions } from './render-options.js'
import { amountFormatter, ZonedClock } from './statement-format.js'
import { endStream, writeChunk } from './statement-output.js'
import type { StatementLine, StatementSource, StatementSummary } from './statement-types.js'

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
const HEAD = stringify([], { ...BODY_OPTIONS, header: true, columns: [...CSV_COLUMNS] })

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
 * The CSV form of one statement's lines, chunk by chunk: what renderCsv writes and what the
 * fingerprint of every format hashes. csv-stringify's sync API once per chunk: its own quoting and
 * escaping at a fraction of the per-record cost of its stream API, with memory bounded by the
 * chunk. The bytes depend only on the source (no generation time), because their SHA-256 is the
 * statement's fingerprint.
 */
export class CsvEncoder {
  readonly head = HEAD
  private readonly clock: ZonedClock
  private readonly amount: (minor: bigint) => string
  private readonly currency: string

  constructor(summary: StatementSummary) {
    this.clock = new ZonedClock(summary.period.timeZone)
    this.amount = amountFormatter(summary)
    this.currency = summary.currency
  }

  /** The records of `lines`, each ended by CRLF. */
  records(lines: readonly StatementLine[]): string {
    const { clock, amount, currency } = this
    return stringify(
      lines.map((line) => [
        clock.timestamp(line.at),
        line.type,
        neutraliseFormula(line.description),
        neutraliseFormula(line.reference),
        neutraliseFormula(line.counterparty),
        line.transactionId,
        amount(line.amount),
        amount(line.balanceAfter),
        currency,
      ]),
      BODY_OPTIONS,
    )
  }
}

/**
 * Writes the statement as RFC 4180 CSV (header row, then one record per line, CRLF) and ends
 * `out` (on failure it is left open for the caller to destroy). Streams chunk by chunk with
 * backpressure, so a 1,000,000-line statement never sits in memory.
 */
export async function renderCsv(
  source: StatementSource,
  out: Writable,
  options: RenderOptions = {},
): Promise<void> {
  const csv = new CsvEncoder(source.summary)
  // One awaited write per chunk: backpressure without a Transform piped in between, and a failing
  // source leaves no half-piped stream behind. Memory is bounded by the chunk size.
  await writeChunk(out, csv.head)
  let done = 0
  for await (const chunk of source.lines()) {
    if (chunk.length === 0) continue
    await writeChunk(out, csv.records(chunk))
    done += chunk.length
    await options.onProgress?.(done)
  }
  await endStream(out)
}
