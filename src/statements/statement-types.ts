/**
 * What a statement is made of, free of any format: the figures of a period fixed when the
 * statement is opened, and its lines read in order in chunks. Wallets and point accounts each
 * provide a source; the renderers (CSV, JSON, PDF) and the jobs know only this.
 */

/** `from` inclusive, `to` exclusive; `timeZone` (IANA) draws day boundaries and printed dates. */
export interface StatementPeriod {
  from: Date
  to: Date
  timeZone: string
}

export type StatementKind = 'wallet' | 'points'

export interface StatementHolder {
  userId: string
  email: string | null
  name: string | null
}

/** One transaction type's share of the period. */
export interface StatementTypeTotal {
  type: string
  /** Sum of the positive amounts, in minor units. */
  moneyIn: bigint
  /** Sum of the negative amounts as a positive figure, in minor units. */
  moneyOut: bigint
  count: number
}

/** The figures of a statement, read in one snapshot when it is opened. */
export interface StatementSummary {
  kind: StatementKind
  holder: StatementHolder
  /** The wallet id, or the point account id (null when the user never had points). */
  accountId: string | null
  /** Currency code, or the point asset (`PTS`). */
  currency: string
  decimals: number
  period: StatementPeriod
  openingBalance: bigint
  closingBalance: bigint
  moneyIn: bigint
  moneyOut: bigint
  /** Number of lines; opening + sum of the lines' amounts = closing. */
  count: number
  /** By type, sorted by type. */
  totals: StatementTypeTotal[]
  generatedAt: Date
}

export interface StatementLine {
  at: Date
  type: string
  description: string | null
  reference: string | null
  /** Who is on the other side, where known: a wallet id, a merchant, `external`, … */
  counterparty: string | null
  transactionId: string | null
  /** Signed, minor units. */
  amount: bigint
  /** The balance after this line (the posting engine's balance_after), minor units. */
  balanceAfter: bigint
}

/** An opened statement: its summary now, its lines when iterated (each time from the start). */
export interface StatementSource {
  summary: StatementSummary
  /** The lines in posting order, in chunks of at most `chunkSize`; never all in memory at once. */
  lines(chunkSize?: number): AsyncIterable<StatementLine[]>
}

/** What a wallet or point account module provides: a source for one account and period. */
export type OpenStatement = (accountId: string, period: StatementPeriod) => Promise<StatementSource>

export const STATEMENT_FORMATS = ['json', 'csv', 'pdf'] as const
export type StatementFormat = (typeof STATEMENT_FORMATS)[number]

export const STATEMENT_CONTENT_TYPES: Record<StatementFormat, string> = {
  json: 'application/json; charset=utf-8',
  csv: 'text/csv; charset=utf-8; header=present',
  pdf: 'application/pdf',
}
