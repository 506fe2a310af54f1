import { createHash } from 'node:crypto'
import { parse } from 'csv-parse/sync'
import { stringify } from 'csv-stringify/sync'
import { DateTime } from 'luxon'
import { describe, expect, it } from 'vitest'
import { fakeSource, MemorySink, minorUnits } from './fake-source.test-helper.js'
import { CSV_COLUMNS, CsvEncoder, neutraliseFormula, renderCsv } from './render-csv.js'
import { amountFormatter, ZonedClock } from './statement-format.js'
import { DigestingSink } from './statement-output.js'
import type { StatementSource } from './statement-types.js'

async function csvOf(source: StatementSource): Promise<string> {
  const sink = new MemorySink()
  await renderCsv(source, sink)
  return sink.text()
}

function rowsOf(csv: string): Record<string, string>[] {
  return parse(csv, { columns: true, skip_empty_lines: false })
}

describe('renderCsv', () => {
  it('writes the header, then one row per line, and reconciles to the cent', async () => {
    const source = fakeSource({ generated: 503, openingBalance: -12_345n })
    const csv = await csvOf(source)
    const [header] = parse(csv, { to_line: 1 }) as string[][]
    expect(header).toEqual([...CSV_COLUMNS])
    const rows = rowsOf(csv)
    expect(rows).toHaveLength(source.summary.count)
    const sum = rows.reduce((total, row) => total + minorUnits(row.amount!, 2), 0n)
    expect(source.summary.openingBalance + sum).toBe(source.summary.closingBalance)
    // Each balance_after is the previous one plus the amount, ending at the closing balance.
    let balance = source.summary.openingBalance
    for (const row of rows) {
      balance += minorUnits(row.amount!, 2)
      expect(minorUnits(row.balance_after!, 2)).toBe(balance)
      expect(row.currency).toBe('USD')
    }
    expect(balance).toBe(source.summary.closingBalance)
  })

  it('uses CRLF after every record, header included', async () => {
    const csv = await csvOf(fakeSource({ lines: [{ amount: 1n }, { amount: -1n }] }))
    expect(csv.endsWith('\r\n')).toBe(true)
    expect(csv.split('\r\n')).toHaveLength(4)
    expect(csv.replaceAll('\r\n', '')).not.toMatch(/[\r\n]/)
  })

  it('quotes commas, quotes and line breaks, and keeps Cyrillic, Greek and accents', async () => {
    const descriptions = [
      'Rent, November',
      'The "best" coffee',
      'two\nlines',
      'carriage\rreturn',
      'crlf\r\ninside',
      'Перевод другу',
      'Καφές στην Αθήνα',
      'Crème brûlée à Zürich',
    ]
    const csv = await csvOf(
      fakeSource({ lines: descriptions.map((description) => ({ amount: 100n, description })) }),
    )
    expect(csv).toContain('"Rent, November"')
    expect(csv).toContain('"The ""best"" coffee"')
    expect(rowsOf(csv).map((row) => row.description)).toEqual(descriptions)
  })

  it('prints dates in the statement zone and empty fields for nulls', async () => {
    const source = fakeSource({
      timeZone: 'Europe/Moscow',
      lines: [
        { amount: -1050n, description: null, reference: null, counterparty: null, transactionId: null },
      ],
    })
    const [row] = rowsOf(await csvOf(source))
    expect(row!.date).toMatch(/^2026-11-\d\dT\d\d:\d\d:\d\d\.\d{3}\+03:00$/)
    expect(row).toMatchObject({
      description: '',
      reference: '',
      counterparty: '',
      transaction_id: '',
      amount: '-10.50',
    })
  })

  it('neutralises formulas in free text but never touches amounts', async () => {
    const texts = ['=HYPERLINK("http://x","y")', '+1+1', '-2+3', '@SUM(A1)', '\tcmd', '\rcmd', '＝1']
    const csv = await csvOf(
      fakeSource({
        lines: texts.map((text) => ({
          amount: -500n,
          description: text,
          reference: text,
          counterparty: text,
        })),
      }),
    )
    const rows = rowsOf(csv)
    rows.forEach((row, index) => {
      const expected = `'${texts[index]}`
      expect([row.description, row.reference, row.counterparty]).toEqual([expected, expected, expected])
      expect(row.amount).toBe('-5.00')
    })
    expect(neutraliseFormula('Coffee = good')).toBe('Coffee = good')
    expect(neutraliseFormula(null)).toBeNull()
  })

  it('writes only the header for an empty period', async () => {
    const csv = await csvOf(fakeSource({ lines: [] }))
    expect(csv).toBe(`${CSV_COLUMNS.join(',')}\r\n`)
  })

  it('is byte-for-byte deterministic, so its SHA-256 can fingerprint the statement', async () => {
    const digests: string[] = []
    for (let run = 0; run < 2; run++) {
      const sink = new DigestingSink()
      await renderCsv(fakeSource({ generated: 200 }), sink)
      digests.push(sink.digest())
    }
    expect(digests[0]).toBe(digests[1])
    const again = await csvOf(fakeSource({ generated: 200 }))
    expect(createHash('sha256').update(again).digest('hex')).toBe(digests[0])
  })

  it('streams chunk by chunk through a slow output and reports cumulative progress', async () => {
    const sink = new MemorySink(1)
    const progress: number[] = []
    await renderCsv(fakeSource({ generated: 95, chunkSize: 10 }), sink, {
      onProgress: (done) => void progress.push(done),
    })
    expect(progress).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 95])
    expect(sink.writes).toBeGreaterThanOrEqual(11)
    expect(rowsOf(sink.text())).toHaveLength(95)
    expect(sink.writableFinished).toBe(true)
  })

  it('encodes records byte for byte as csv-stringify did, so fingerprints stay what they were', async () => {
    const source = fakeSource({ generated: 1, timeZone: 'Europe/Berlin' })
    const csv = new CsvEncoder(source.summary)
    const clock = new ZonedClock('Europe/Berlin')
    const amount = amountFormatter(source.summary)
    const pieces = [
      'a',
      ' ',
      ',',
      '"',
      '\r',
      '\n',
      '\r\n',
      '=',
      '-',
      '+',
      '@',
      '\t',
      'é',
      '😀',
      "'",
      '＝',
      ';',
    ]
    let seed = 7
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed / 2 ** 31
    }
    const text = () => {
      if (random() < 0.15) return null
      let value = ''
      for (let n = Math.floor(random() * 6); n > 0; n--) value += pieces[Math.floor(random() * pieces.length)]
      return value
    }
    const lines = Array.from({ length: 2_000 }, () => ({
      at: new Date(Date.UTC(2026, 0, 1) + Math.floor(random() * 3e10)),
      type: text() ?? 'deposit',
      description: text(),
      reference: text(),
      counterparty: text(),
      transactionId: text(),
      amount: BigInt(Math.floor(random() * 2e6 - 1e6)),
      balanceAfter: BigInt(Math.floor(random() * 2e6 - 1e6)),
    }))
    const options = { record_delimiter: 'windows', quote_record_delimiter: true } as const
    const expected = stringify(
      lines.map((line) => [
        clock.timestamp(line.at),
        line.type,
        neutraliseFormula(line.description),
        neutraliseFormula(line.reference),
        neutraliseFormula(line.counterparty),
        line.transactionId,
        amount(line.amount),
        amount(line.balanceAfter),
        source.summary.currency,
      ]),
      options,
    )
    expect(csv.records(lines)).toBe(expected)
    expect(csv.head).toBe(stringify([], { ...options, header: true, columns: [...CSV_COLUMNS] }))
  })

  it('prints times as the clock of the zone reads them, across offset changes', () => {
    const zones = [
      'UTC',
      'Europe/Berlin',
      'America/New_York',
      'Australia/Lord_Howe',
      'Asia/Kathmandu',
      'Asia/Kolkata',
    ]
    const HOUR = 3_600_000
    for (const zone of zones) {
      const clock = new ZonedClock(zone)
      const offsetAt = (ms: number) => DateTime.fromMillis(ms, { zone }).offset
      // A year hour by hour (plus some minutes, seconds and ms), each day with an offset change
      // every 67 s, and the local mean time of Kolkata in 1900 (+05:21:10).
      const instants: number[] = []
      for (let ms = Date.UTC(2026, 0, 1); ms < Date.UTC(2027, 0, 1); ms += HOUR) {
        instants.push(ms + ((ms / HOUR) % 3_599_999))
        if (offsetAt(ms) !== offsetAt(ms + HOUR)) {
          for (let near = ms - 12 * HOUR; near < ms + 12 * HOUR; near += 67_001) instants.push(near)
        }
      }
      for (let n = 0; n < 300; n++) instants.push(Date.UTC(1900, 0, 1) + n * 433_001)
      for (const ms of instants) {
        const at = new Date(ms)
        const local = DateTime.fromMillis(ms, { zone })
        const wall = new Date(ms + local.offset * 60_000).toISOString()
        const offset = zone === 'UTC' ? 'Z' : local.toFormat('ZZ')
        if (Number.isInteger(local.offset)) expect(clock.timestamp(at)).toBe(wall.slice(0, 23) + offset)
        expect(clock.minute(at)).toBe(`${wall.slice(0, 10)} ${wall.slice(11, 16)}`)
        expect(clock.date(at)).toBe(wall.slice(0, 10))
      }
    }
  })
})
