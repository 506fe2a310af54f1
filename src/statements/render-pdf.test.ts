import { execFile } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FakeLine, fakeSource, MemorySink } from './fake-source.test-helper.js'
import { fingerprintOf, renderStatement } from './render.js'
import { pdfPageCount, renderPdf } from './render-pdf.js'
import type { StatementSource } from './statement-types.js'

const run = promisify(execFile)
const FINGERPRINT = 'a3f1c2d4e5b6978800112233445566778899aabbccddeeff0011223344556677'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffer-pdf-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

let files = 0
async function pdfOf(source: StatementSource): Promise<string> {
  const file = path.join(dir, `statement-${++files}.pdf`)
  await renderPdf(source, createWriteStream(file), { fingerprint: FINGERPRINT })
  return file
}

async function textOf(file: string): Promise<string> {
  return (await run('pdftotext', ['-layout', file, '-'], { maxBuffer: 64 << 20 })).stdout
}

async function pagesOf(file: string): Promise<number> {
  const { stdout } = await run('pdfinfo', [file])
  return Number(/^Pages:\s+(\d+)$/m.exec(stdout)?.[1])
}

/** `count` lines over `types` transaction types. */
function typedLines(count: number, types: number): FakeLine[] {
  return Array.from({ length: count }, (_, index) => ({
    amount: index % 2 === 0 ? 1_000n : -250n,
    type: `type_${String(index % types).padStart(2, '0')}`,
  }))
}

describe('renderPdf', () => {
  it('prints balances, non-Latin descriptions, page numbers and the fingerprint', async () => {
    const lines: FakeLine[] = typedLines(300, 4)
    lines[0] = {
      amount: -1050n,
      type: 'transfer_out',
      description: 'Перевод другу',
      counterparty: 'external',
    }
    lines[1] = { amount: 2500n, type: 'deposit', description: 'Καφές στην Αθήνα' }
    lines[2] = { amount: 99n, type: 'deposit', description: 'Crème brûlée à Zürich' }
    const source = fakeSource({ lines, openingBalance: 123_456n, timeZone: 'Europe/Moscow' })
    const pages = pdfPageCount(300, source.summary.totals.length)
    expect(pages).toBeGreaterThan(2)

    const file = await pdfOf(source)
    const text = await textOf(file)
    expect(text).toContain('Statement')
    expect(text).toContain('Анна Иванова')
    expect(text).toMatch(/Opening balance\s+1234\.56 USD/)
    expect(text).toMatch(
      new RegExp(`Closing balance\\s+${source.summary.closingBalance / 100n}\\.\\d\\d USD`),
    )
    expect(text).toContain('2026-11-01 03:00 – 2026-12-01 03:00 (Europe/Moscow)')
    expect(text).toContain('Перевод другу')
    expect(text).toContain('Καφές στην Αθήνα')
    expect(text).toContain('Crème brûlée à Zürich')
    expect(text).toContain('-10.50')
    expect(text).toContain(`Page 1 of ${pages}`)
    expect(text).toContain(`Page ${pages} of ${pages}`)
    expect(text).not.toContain(`Page ${pages + 1} of`)
    expect(text.split(`SHA-256 fingerprint: ${FINGERPRINT}`)).toHaveLength(pages + 1)
    expect(text).toContain(
      "SHA-256 of this statement's CSV form; compare with GET /api/v1/statements/{jobId}",
    )
    // The lines table's head is repeated on every page.
    expect(text.match(/Date\s+Type\s+Description/g)).toHaveLength(pages)
    expect(await pagesOf(file)).toBe(pages)
  })

  it('prints the closing balance exactly', async () => {
    const source = fakeSource({ lines: [{ amount: 1n }, { amount: -100_001n }], openingBalance: 0n })
    const text = await textOf(await pdfOf(source))
    expect(text).toMatch(/Opening balance\s+0\.00 USD/)
    expect(text).toMatch(/Closing balance\s+-1000\.00 USD/)
  })

  it('says so for an empty period, on one page', async () => {
    const file = await pdfOf(fakeSource({ lines: [] }))
    const text = await textOf(file)
    expect(text).toContain('No transactions in this period.')
    expect(text).toContain('Page 1 of 1')
    expect(pdfPageCount(0, 0)).toBe(1)
    expect(await pagesOf(file)).toBe(1)
  })

  it('titles points statements', async () => {
    const source = fakeSource({ kind: 'points', currency: 'PTS', decimals: 0, lines: [{ amount: 40n }] })
    const text = await textOf(await pdfOf(source))
    expect(text).toContain('Points statement')
    expect(text).toMatch(/Closing balance\s+100040 PTS/)
  })

  it('truncates long text to its column with an ellipsis, on one line', async () => {
    const long = `Very long description ${'abcdefghij'.repeat(20)}`
    const text = await textOf(
      await pdfOf(fakeSource({ lines: [{ amount: 1n, description: `${long}\nsecond line` }] })),
    )
    expect(text).toMatch(/Very long description abcdefghij\S*…/)
    expect(text).not.toContain('second line')
  })

  it('never cuts a figure: a huge amount pushes into the reference column instead', async () => {
    const source = fakeSource({
      openingBalance: 0n,
      lines: [
        {
          amount: -123_456_789_012_345n,
          reference: 'REF-0123456789-ABCDEFGHIJ-KLMNOPQRST',
          counterparty: 'x',
        },
      ],
    })
    const text = await textOf(await pdfOf(source))
    expect(text).toMatch(/REF-0123\S*…\s+-1234567890123\.45\s+-1234567890123\.45\n/)
  })

  it('has exactly the computed number of pages', async () => {
    // The largest line count whose statement still fits on page 1 (with 4 types).
    let firstPageFull = 1
    while (pdfPageCount(firstPageFull + 1, 4) === 1) firstPageFull++
    const cases: [lines: number, types: number][] = [
      [0, 0],
      [1, 1],
      [firstPageFull, 4],
      [firstPageFull + 1, 4],
      [1000, 4],
      // Enough types that the totals table itself breaks across pages.
      [70, 70],
    ]
    for (const [count, types] of cases) {
      const source = fakeSource({ lines: typedLines(count, Math.max(types, 1)) })
      expect(source.summary.totals).toHaveLength(types)
      const expected = pdfPageCount(count, types)
      const file = await pdfOf(source)
      expect(await pagesOf(file), `${count} lines, ${types} types`).toBe(expected)
      expect(await textOf(file)).toContain(`Page ${expected} of ${expected}`)
    }
    expect(pdfPageCount(firstPageFull + 1, 4)).toBe(2)
    expect(pdfPageCount(70, 70)).toBeGreaterThan(1)
  })

  it('streams to a slow output and reports progress per chunk', async () => {
    const sink = new MemorySink(0)
    const progress: number[] = []
    const source = fakeSource({ generated: 2_000, chunkSize: 500 })
    await renderPdf(source, sink, {
      fingerprint: FINGERPRINT,
      onProgress: (done) => void progress.push(done),
    })
    expect(progress).toEqual([500, 1000, 1500, 2000])
    expect(sink.writableFinished).toBe(true)
    const pdf = Buffer.concat(sink.chunks)
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-')
    expect(pdf.subarray(-6).toString('latin1')).toContain('%%EOF')
  })

  it('prints a fingerprint known only after the last line on every page, in one read of the lines', async () => {
    const inner = fakeSource({ generated: 1_500, chunkSize: 400 })
    let reads = 0
    const source: StatementSource = {
      summary: inner.summary,
      lines: (chunkSize) => {
        reads++
        return inner.lines(chunkSize)
      },
    }
    const file = path.join(dir, `statement-${++files}.pdf`)
    const rendered = await renderStatement(source, 'pdf', createWriteStream(file))
    expect(reads).toBe(1)
    expect(rendered.fingerprint).toBe(await fingerprintOf(inner))
    const pages = pdfPageCount(1_500, inner.summary.totals.length)
    expect(pages).toBeGreaterThan(2)
    const text = await textOf(file)
    expect(text.split(`SHA-256 fingerprint: ${rendered.fingerprint}`)).toHaveLength(pages + 1)
    expect(await pagesOf(file)).toBe(pages)
  })

  it('asks for the fingerprint only once every line is drawn', async () => {
    let drawn = 0
    const inner = fakeSource({ generated: 300, chunkSize: 100 })
    const source: StatementSource = {
      summary: inner.summary,
      async *lines(chunkSize) {
        for await (const chunk of inner.lines(chunkSize)) {
          yield chunk
          drawn += chunk.length
        }
      },
    }
    const file = path.join(dir, `statement-${++files}.pdf`)
    await renderPdf(source, createWriteStream(file), {
      fingerprint: () => {
        expect(drawn).toBe(300)
        return FINGERPRINT
      },
    })
    expect(await textOf(file)).toContain(`SHA-256 fingerprint: ${FINGERPRINT}`)
  })
})
