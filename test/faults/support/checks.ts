import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { type Answer, acknowledged, type Movement, send } from './api.js'

/** Runs `work` over `items`, `width` at a time. */
async function inBatches<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(work))
}

async function countsByReference(databaseUrl: string, references: string[]): Promise<Map<string, number>> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ reference: string; n: number }>(
      'select reference, count(*)::int as n from transactions where reference = any($1::text[]) group by reference',
      [references],
    )
    return new Map(rows.map((row) => [row.reference, row.n]))
  } finally {
    await client.end()
  }
}

const idOf = (answer: Answer) => (answer.body as { id?: string } | null)?.id

export interface ExactlyOnceReport {
  acknowledged: number
  unacknowledged: number
  /** Acknowledged 201s whose transaction is missing, or whose replay does not give it back. */
  lost: string[]
  /** Movements found more than once. */
  duplicated: string[]
  /** Retries of unacknowledged movements that did not end in a 2xx or 4xx. */
  unresolved: string[]
}

/**
 * Every acknowledged movement is in the ledger exactly once and its replay answers the stored
 * response (Idempotency-Replayed: true, same transaction); every unacknowledged one, retried with
 * its key, ends in an answer and is applied at most once.
 */
export async function checkExactlyOnce(
  baseUrl: string,
  databaseUrl: string,
  movements: Movement[],
): Promise<ExactlyOnceReport> {
  const acked = movements.filter((m) => acknowledged(m.answer))
  const unacked = movements.filter((m) => m.answer.status === 0 || m.answer.status === 503)
  const report: ExactlyOnceReport = {
    acknowledged: acked.length,
    unacknowledged: unacked.length,
    lost: [],
    duplicated: [],
    unresolved: [],
  }

  await inBatches(acked, 8, async (movement) => {
    const replay = await send(baseUrl, movement)
    const sameTransaction = idOf(replay) !== undefined && idOf(replay) === idOf(movement.answer)
    if (
      replay.status !== movement.answer.status ||
      replay.headers.get('idempotency-replayed') !== 'true' ||
      !sameTransaction
    ) {
      report.lost.push(`${movement.key}: replay answered ${replay.status} ${JSON.stringify(replay.body)}`)
    }
  })

  const retried = new Map<string, Answer>()
  await inBatches(unacked, 8, async (movement) => {
    // A retry during the last moments of recovery may still meet a 503: a client retries again.
    for (let attempt = 0; attempt < 10; attempt++) {
      const answer = await send(baseUrl, movement)
      retried.set(movement.key, answer)
      if (answer.status !== 503 && answer.status !== 0) break
      await sleep(1000)
    }
    const answer = retried.get(movement.key)!
    if (!(answer.status >= 200 && answer.status < 500)) {
      report.unresolved.push(`${movement.key}: retry answered ${answer.status}`)
    }
  })

  const counts = await countsByReference(
    databaseUrl,
    movements.map((m) => m.key),
  )
  for (const movement of acked) {
    const n = counts.get(movement.key) ?? 0
    if (n === 0)
      report.lost.push(`${movement.key}: acknowledged ${movement.answer.status} but not in the ledger`)
    if (n > 1) report.duplicated.push(`${movement.key}: ${n} transactions`)
  }
  for (const movement of unacked) {
    const n = counts.get(movement.key) ?? 0
    if (n > 1) report.duplicated.push(`${movement.key}: ${n} transactions`)
    const answer = retried.get(movement.key)
    if (answer && acknowledged(answer) && n !== 1)
      report.lost.push(`${movement.key}: retried 2xx, ${n} transactions`)
  }
  return report
}
