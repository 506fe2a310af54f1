import { Value } from 'typebox/value'
import { describe, expect, it } from 'vitest'
import { fakeSource, MemorySink, minorUnits } from './fake-source.test-helper.js'
import { renderJson } from './render-json.js'
import { StatementDocument, type StatementDocumentView } from './statement-document.schemas.js'
import type { StatementSource } from './statement-types.js'

async function documentOf(source: StatementSource, sink = new MemorySink()): Promise<StatementDocumentView> {
  await renderJson(source, sink)
  return JSON.parse(sink.text()) as StatementDocumentView
}

describe('renderJson', () => {
  it('writes a StatementDocument whose lines reconcile with the balances', async () => {
    const source = fakeSource({ generated: 250, timeZone: 'Europe/Moscow' })
    const document = await documentOf(source)
    expect(Value.Check(StatementDocument, document)).toBe(true)
    // The check is a real one, formats included.
    expect(Value.Check(StatementDocument, { ...document, generatedAt: 'yesterday' })).toBe(false)
    expect(document.lines).toHaveLength(250)
    const sum = document.lines.reduce((total, line) => total + minorUnits(line.amount, 2), 0n)
    expect(minorUnits(document.openingBalance, 2) + sum).toBe(minorUnits(document.closingBalance, 2))
    expect(document.totals.count).toBe(250)
    expect(document.totals.byType.map((total) => total.type)).toEqual(
      source.summary.totals.map((total) => total.type),
    )
    expect(document.period).toEqual({
      from: '2026-11-01T00:00:00.000Z',
      to: '2026-12-01T00:00:00.000Z',
      timeZone: 'Europe/Moscow',
    })
    expect(document.generatedAt).toBe('2026-12-01T09:30:00.000Z')
    expect(document.lines[0]!.date).toMatch(/\+03:00$/)
  })

  it('keeps the schema key order', async () => {
    const document = await documentOf(fakeSource({ generated: 3 }))
    expect(Object.keys(document)).toEqual(Object.keys(StatementDocument.properties))
    expect(Object.keys(document.lines[0]!)).toEqual(
      Object.keys(StatementDocument.properties.lines.items.properties),
    )
    expect(Object.keys(document.totals.byType[0]!)).toEqual(
      Object.keys(StatementDocument.properties.totals.properties.byType.items.properties),
    )
  })

  it('keeps text as given and nulls as null', async () => {
    const document = await documentOf(
      fakeSource({
        lines: [
          {
            amount: -1050n,
            description: 'Перевод другу, "срочно"\n',
            reference: null,
            counterparty: 'external',
          },
          { amount: 7n, description: null, transactionId: '0193a0b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b' },
        ],
      }),
    )
    expect(Value.Check(StatementDocument, document)).toBe(true)
    expect(document.lines[0]).toMatchObject({
      description: 'Перевод другу, "срочно"\n',
      reference: null,
      counterparty: 'external',
      transactionId: null,
      amount: '-10.50',
    })
    expect(document.lines[1]!.description).toBeNull()
  })

  it('writes a valid document for an empty period', async () => {
    const document = await documentOf(fakeSource({ lines: [] }))
    expect(Value.Check(StatementDocument, document)).toBe(true)
    expect(document.lines).toEqual([])
    expect(document.openingBalance).toBe(document.closingBalance)
  })

  it('streams: many chunks become many writes, through a slow output, with progress', async () => {
    const sink = new MemorySink(1)
    const progress: number[] = []
    const source = fakeSource({ generated: 40, chunkSize: 3 })
    await renderJson(source, sink, { onProgress: (done) => void progress.push(done) })
    // Head, one write per chunk, tail.
    expect(sink.writes).toBeGreaterThanOrEqual(Math.ceil(40 / 3) + 2)
    expect(progress.at(-1)).toBe(40)
    expect(progress).toHaveLength(Math.ceil(40 / 3))
    const document = JSON.parse(sink.text()) as StatementDocumentView
    expect(Value.Check(StatementDocument, document)).toBe(true)
    expect(document.lines).toHaveLength(40)
  })

  it('prints points without decimals', async () => {
    const document = await documentOf(
      fakeSource({
        kind: 'points',
        currency: 'PTS',
        decimals: 0,
        lines: [{ amount: 150n }, { amount: -20n }],
      }),
    )
    expect(document.kind).toBe('points')
    expect(document.lines.map((line) => line.amount)).toEqual(['150', '-20'])
  })
})
