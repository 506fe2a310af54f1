import type { Writable } from 'node:stream'
import type { RenderOptions } from './render-options.js'
import type { StatementDocumentView } from './statement-document.schemas.js'
import { amountFormatter, ZonedClock } from './statement-format.js'
import { endStream, writeChunk } from './statement-output.js'
import type { StatementLine, StatementSource, StatementSummary } from './statement-types.js'

type LineView = StatementDocumentView['lines'][number]
/** Everything of the document but the lines, in the schema's key order. */
type DocumentHead = Omit<StatementDocumentView, 'lines' | 'generatedAt'>

function headOf(summary: StatementSummary, amount: (minor: bigint) => string): DocumentHead {
  const { holder, period } = summary
  return {
    kind: summary.kind,
    holder: { userId: holder.userId, email: holder.email, name: holder.name },
    accountId: summary.accountId,
    currency: summary.currency,
    period: { from: period.from.toISOString(), to: period.to.toISOString(), timeZone: period.timeZone },
    openingBalance: amount(summary.openingBalance),
    closingBalance: amount(summary.closingBalance),
    totals: {
      moneyIn: amount(summary.moneyIn),
      moneyOut: amount(summary.moneyOut),
      count: summary.count,
      byType: summary.totals.map((total) => ({
        type: total.type,
        moneyIn: amount(total.moneyIn),
        moneyOut: amount(total.moneyOut),
        count: total.count,
      })),
    },
  }
}

/**
 * Writes the statement as one StatementDocument and ends `out` (on failure it is left open for the
 * caller to destroy). The document is streamed: the head as one JSON text with its closing brace
 * cut off, the lines chunk by chunk, then the tail, so the lines array of a long statement is
 * never built.
 */
export async function renderJson(
  source: StatementSource,
  out: Writable,
  options: RenderOptions = {},
): Promise<void> {
  const { summary } = source
  const clock = new ZonedClock(summary.period.timeZone)
  const amount = amountFormatter(summary)
  const lineView = (line: StatementLine): LineView => ({
    date: clock.timestamp(line.at),
    type: line.type,
    description: line.description,
    reference: line.reference,
    counterparty: line.counterparty,
    transactionId: line.transactionId,
    amount: amount(line.amount),
    balanceAfter: amount(line.balanceAfter),
  })

  const head = JSON.stringify(headOf(summary, amount))
  await writeChunk(out, `${head.slice(0, -1)},"lines":[`)
  let done = 0
  for await (const chunk of source.lines()) {
    if (chunk.length === 0) continue
    const body = chunk.map((line) => JSON.stringify(lineView(line))).join(',')
    await writeChunk(out, done === 0 ? body : `,${body}`)
    done += chunk.length
    await options.onProgress?.(done)
  }
  await writeChunk(out, `],"generatedAt":${JSON.stringify(summary.generatedAt.toISOString())}}`)
  await endStream(out)
}
