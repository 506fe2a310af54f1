import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import PDFDocument from 'pdfkit'
import type { RenderOptions } from './render-options.js'
import { amountFormatter, ZonedClock } from './statement-format.js'
import type { StatementLine, StatementSource, StatementSummary } from './statement-types.js'

export type PdfRenderOptions = RenderOptions & {
  /**
   * Hex SHA-256 of the statement's CSV form, printed in every footer; or what gives it once the
   * last line has been drawn (called once, after the source's lines are exhausted), so a caller
   * can hash the CSV form of the lines as they pass instead of reading them twice.
   */
  fingerprint: string | (() => string)
}

// ---------------------------------------------------------------------------------------------
// Fixed layout. Every figure is a whole number of points, so the page count computed up front
// from the line and type counts is exactly the one the renderer reaches (the PDF is streamed
// page by page: pdfkit's bufferPages would keep a 2,500-page statement in memory to number it).

/** A4 portrait, in points. */
const PAGE_SIZE: [number, number] = [595.28, 841.89]
const LEFT = 40
const WIDTH = 515
const RIGHT = LEFT + WIDTH
const TOP = 40
/** Content stops here; the footer lives below. */
const BOTTOM = 780
const FOOTER_TOP = 788

const TITLE_H = 30
const INFO_ROW_H = 13
const INFO_ROWS = 6
const HEADER_BLOCK_H = TITLE_H + INFO_ROW_H * INFO_ROWS + 12
const SECTION_H = 18
const TABLE_HEAD_H = 14
const ROW_H = 12
const SECTION_GAP = 14

const TITLE_SIZE = 18
const INFO_SIZE = 9
const SECTION_SIZE = 10
const ROW_SIZE = 7.5
const FOOTER_SIZE = 7
const CELL_PAD = 4

interface Column {
  title: string
  x: number
  width: number
  align: 'left' | 'right'
}

function columns(specs: [title: string, width: number, align: 'left' | 'right'][]): Column[] {
  let x = LEFT
  return specs.map(([title, width, align]) => {
    const column = { title, x, width, align }
    x += width
    return column
  })
}

const LINE_COLUMNS = columns([
  ['Date', 74, 'left'],
  ['Type', 60, 'left'],
  ['Description', 150, 'left'],
  ['Reference / counterparty', 111, 'left'],
  ['Amount', 58, 'right'],
  ['Balance after', 62, 'right'],
])
const TOTAL_COLUMNS = columns([
  ['Type', 175, 'left'],
  ['Count', 70, 'right'],
  ['Money in', 90, 'right'],
  ['Money out', 90, 'right'],
  ['Net', 90, 'right'],
])

/** Where the next block goes; breaks the page when a block does not fit. */
class PageFlow {
  page = 1
  y = TOP

  constructor(private readonly onNewPage: (page: number) => void = () => {}) {}

  /** Starts a new page when `height` does not fit below the cursor; true when it did. */
  ensure(height: number): boolean {
    if (this.y + height <= BOTTOM) return false
    this.page++
    this.y = TOP
    this.onNewPage(this.page)
    return true
  }
}

const ROWS_PER_FULL_PAGE = Math.floor((BOTTOM - TOP - TABLE_HEAD_H) / ROW_H)

/**
 * The number of pages the PDF of a statement with `lineCount` lines and `typeCount` transaction
 * types has: the same flow the renderer follows, without drawing (lines by arithmetic, so a
 * 100,000-line statement costs nothing to plan).
 */
export function pdfPageCount(lineCount: number, typeCount: number): number {
  const flow = new PageFlow()
  flow.y = TOP + HEADER_BLOCK_H
  if (typeCount > 0) {
    flow.ensure(SECTION_H + TABLE_HEAD_H + ROW_H)
    flow.y += SECTION_H + TABLE_HEAD_H
    // One row per type, then the row of all types.
    for (let row = 0; row < typeCount + 1; row++) {
      if (flow.ensure(ROW_H)) flow.y += TABLE_HEAD_H
      flow.y += ROW_H
    }
    flow.y += SECTION_GAP
  }
  flow.ensure(SECTION_H + TABLE_HEAD_H + ROW_H)
  flow.y += SECTION_H + TABLE_HEAD_H
  const rowsHere = Math.floor((BOTTOM - flow.y) / ROW_H)
  if (lineCount <= rowsHere) return flow.page
  return flow.page + Math.ceil((lineCount - rowsHere) / ROWS_PER_FULL_PAGE)
}

// ---------------------------------------------------------------------------------------------
// Fonts: DejaVu Sans covers Latin, Cyrillic and Greek; read once per process, embedded (subset)
// in every PDF.

interface FontFiles {
  regular: Buffer
  bold: Buffer
}
let fontFiles: FontFiles | undefined

function statementFonts(): FontFiles {
  if (!fontFiles) {
    const dir = path.join(
      path.dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')),
      'ttf',
    )
    fontFiles = {
      regular: readFileSync(path.join(dir, 'DejaVuSans.ttf')),
      bold: readFileSync(path.join(dir, 'DejaVuSans-Bold.ttf')),
    }
  }
  return fontFiles
}

const REGULAR = 'DejaVuSans'
const BOLD = 'DejaVuSans-Bold'

// ---------------------------------------------------------------------------------------------
// Text. pdfkit's `text()` shapes every string with fontkit and caches each distinct word for the
// document's life: 100,000 lines took 16 s and 800 MB that way. A statement needs neither shaping
// nor kerning (Latin, Cyrillic and Greek in DejaVu Sans are one glyph per character once
// NFC-composed), so text is drawn here from a per-character glyph cache: each distinct
// character goes once through pdfkit's own `encode` (which also records the glyph for the
// embedded subset, its width and its ToUnicode entry, so text extraction works), and a row is
// one BT…ET block of positioned strings.

/** The parts of pdfkit's embedded font used directly (pdfkit 0.20; checked at start). */
interface EmbeddedFontHandle {
  id: string
  ascender: number
  encode(text: string): [string[], { xAdvance: number }[]]
  ref(): unknown
}

interface Glyphs {
  /** The glyph ids as 2-byte codes, escaped for a PDF literal string, one char per byte. */
  literal: string
  /** Advance in 1/1000 of the font size. */
  advance: number
}

interface FontGlyphs {
  handle: EmbeddedFontHandle
  ascii: (Glyphs | undefined)[]
  other: Map<string, Glyphs>
}

/** Bytes a PDF literal string must escape: the delimiters, the backslash and end-of-line bytes. */
const LITERAL_ESCAPES: Record<number, string> = { 40: '\\(', 41: '\\)', 92: '\\\\', 10: '\\n', 13: '\\r' }

function literalOf(hexGlyphIds: string[]): string {
  let literal = ''
  for (const hex of hexGlyphIds) {
    const id = Number.parseInt(hex, 16)
    for (const byte of [id >> 8, id & 0xff]) literal += LITERAL_ESCAPES[byte] ?? String.fromCharCode(byte)
  }
  return literal
}

class GlyphWriter {
  private readonly fonts = new Map<string, FontGlyphs>()
  private font: FontGlyphs | undefined
  private size = 0
  private block = ''
  private blockFont = ''
  private lineX = 0
  private lineY = Number.NaN

  constructor(private readonly doc: PDFKit.PDFDocument) {}

  /** Selects a font registered on the document, and the size. */
  use(name: string, size: number): void {
    let font = this.fonts.get(name)
    if (!font) {
      this.doc.font(name)
      const handle = (this.doc as unknown as { _font?: EmbeddedFontHandle })._font
      if (typeof handle?.encode !== 'function' || typeof handle.ref !== 'function') {
        throw new Error('pdfkit internals changed: the statement PDF needs its embedded font (_font.encode)')
      }
      font = { handle, ascii: [], other: new Map() }
      this.fonts.set(name, font)
    }
    this.font = font
    this.size = size
  }

  get fontSize(): number {
    return this.size
  }

  /** The glyphs of the character at `index` of `text` (a surrogate pair counts as one). */
  private glyphsAt(text: string, index: number): Glyphs {
    const font = this.font!
    const code = text.charCodeAt(index)
    if (code < 128) {
      let glyphs = font.ascii[code]
      if (!glyphs) {
        glyphs = this.encode(text[index]!)
        font.ascii[code] = glyphs
      }
      return glyphs
    }
    const char = code >= 0xd800 && code < 0xdc00 ? text.slice(index, index + 2) : text[index]!
    let glyphs = font.other.get(char)
    if (!glyphs) {
      glyphs = this.encode(char)
      font.other.set(char, glyphs)
    }
    return glyphs
  }

  private encode(char: string): Glyphs {
    const [hex, positions] = this.font!.handle.encode(char)
    return {
      literal: literalOf(hex),
      advance: positions.reduce((sum, position) => sum + position.xAdvance, 0),
    }
  }

  /** Width of `text` in points in the current font and size (exactly what `text` draws). */
  width(text: string): number {
    let advance = 0
    for (let index = 0; index < text.length; index++) {
      advance += this.glyphsAt(text, index).advance
      if (isHighSurrogate(text, index)) index++
    }
    return (advance * this.size) / 1000
  }

  /** Longest prefix of `text` (in UTF-16 units) whose width plus `reserve` points fits `room`. */
  fittingLength(text: string, room: number, reserve: number): number {
    const budget = ((room - reserve) * 1000) / this.size
    let advance = 0
    let index = 0
    while (index < text.length) {
      advance += this.glyphsAt(text, index).advance
      if (advance > budget) break
      index += isHighSurrogate(text, index) ? 2 : 1
    }
    return index
  }

  /** Queues `text` with its top-left corner at (x, y), in pdfkit's top-down coordinates. */
  text(text: string, x: number, y: number): void {
    if (text.length === 0) return
    const font = this.font!
    let literal = ''
    for (let index = 0; index < text.length; index++) {
      literal += this.glyphsAt(text, index).literal
      if (isHighSurrogate(text, index)) index++
    }
    const fonts = this.doc.page.fonts
    if (fonts[font.handle.id] == null) fonts[font.handle.id] = font.handle.ref()
    const fontOp = `/${font.handle.id} ${this.size} Tf`
    if (fontOp !== this.blockFont) {
      this.block += `${fontOp}\n`
      this.blockFont = fontOp
    }
    // pdfkit's pages draw top-down (a flipped CTM); the text matrix flips the glyphs back upright.
    // Cells of one row share a baseline, so after the first a relative move is enough.
    const baseline = y + (font.handle.ascender / 1000) * this.size
    if (baseline === this.lineY) this.block += `${round(x - this.lineX)} 0 Td`
    else this.block += `1 0 0 -1 ${round(x)} ${round(baseline)} Tm`
    this.block += `(${literal})Tj\n`
    this.lineX = x
    this.lineY = baseline
  }

  /** Writes the queued text to the current page; before any other drawing and before a new page. */
  flush(): void {
    const content = this.take()
    if (content) this.doc.addContent(content)
  }

  /** The queued text as content (null when none), for the page or another content stream. */
  take(): Buffer | null {
    if (this.block === '') return null
    const content = Buffer.from(`BT\n${this.block}ET\n`, 'latin1')
    this.block = ''
    this.blockFont = ''
    this.lineY = Number.NaN
    return content
  }

  /** The resource entry of the current font: its name on a page and its dictionary. */
  fontResource(): [name: string, dictionary: unknown] {
    const { handle } = this.font!
    return [handle.id, handle.ref()]
  }
}

function isHighSurrogate(text: string, index: number): boolean {
  const code = text.charCodeAt(index)
  return code >= 0xd800 && code < 0xdc00
}

function round(value: number): number {
  return Math.round(value * 100) / 100
}

const ELLIPSIS = '…'
/** Anything but printable ASCII: such text is NFC-composed and stripped of control characters. */
const BEYOND_ASCII = /[^\u0020-\u007e]/
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g
/** No glyph of DejaVu Sans a statement prints is wider than this many ems. */
const WIDEST_GLYPH_EM = 1
/** pdfkit stops feeding a slow output only when asked: past this many buffered bytes, wait. */
const BUFFER_LIMIT = 1 << 20

/** The name of the fingerprint's form XObject in every page's resources. */
const FINGERPRINT_FORM = 'Fp'

/** The parts of a pdfkit indirect object used here (its `data` is the object's dictionary). */
interface PdfRef {
  data: Record<string, unknown>
  end(chunk?: Buffer): void
}

/** Draws a statement on one pdfkit document; knows the layout, not the source. */
class StatementPdf {
  private readonly clock: ZonedClock
  private readonly amount: (minor: bigint) => string
  private readonly pageCount: number
  private readonly glyphs: GlyphWriter
  /**
   * The fingerprint line, a Form XObject every footer draws (`/Fp Do`) and whose content is
   * written only in `finish`: the fingerprint may be known only once the last line is drawn, and
   * pages are streamed out long before that. A page refers to the form; the form is one object.
   */
  private readonly fingerprintForm: PdfRef
  readonly flow: PageFlow

  constructor(
    private readonly doc: PDFKit.PDFDocument,
    private readonly summary: StatementSummary,
    private readonly fingerprint: string | (() => string),
  ) {
    // In the page's space: pdfkit's pages draw top-down, and a form inherits the page's matrix.
    this.fingerprintForm = doc.ref({
      Type: 'XObject',
      Subtype: 'Form',
      BBox: [0, 0, PAGE_SIZE[0], PAGE_SIZE[1]],
    }) as unknown as PdfRef
    this.clock = new ZonedClock(summary.period.timeZone)
    this.amount = amountFormatter(summary)
    this.pageCount = pdfPageCount(summary.count, summary.totals.length)
    this.glyphs = new GlyphWriter(doc)
    this.flow = new PageFlow((page) => {
      this.glyphs.flush()
      this.doc.addPage()
      this.footer(page)
    })
  }

  begin(): void {
    this.footer(1)
    this.headerBlock()
    this.totalsTable()
    this.linesHeading()
  }

  private money(minor: bigint): string {
    return `${this.amount(minor)} ${this.summary.currency}`
  }

  private footer(page: number): void {
    const { doc, glyphs, summary } = this
    doc
      .save()
      .moveTo(LEFT, FOOTER_TOP - 4)
      .lineTo(RIGHT, FOOTER_TOP - 4)
      .lineWidth(0.5)
      .stroke('#999999')
      .restore()
    glyphs.use(REGULAR, FOOTER_SIZE)
    glyphs.text(
      `Generated ${this.clock.minute(summary.generatedAt)} (${summary.period.timeZone})`,
      LEFT,
      FOOTER_TOP,
    )
    const pageText = `Page ${page} of ${this.pageCount}`
    glyphs.text(pageText, RIGHT - glyphs.width(pageText), FOOTER_TOP)
    glyphs.text(
      "SHA-256 of this statement's CSV form; compare with GET /api/v1/statements/{jobId}",
      LEFT,
      FOOTER_TOP + 20,
    )
    glyphs.flush()
    doc.page.xobjects[FINGERPRINT_FORM] = this.fingerprintForm
    doc.addContent(`/${FINGERPRINT_FORM} Do`)
  }

  /**
   * Writes the fingerprint form, once every line is drawn and before the document ends (which
   * embeds the font subset: the fingerprint's glyphs must be in it).
   */
  finish(): void {
    const { glyphs } = this
    const fingerprint = typeof this.fingerprint === 'string' ? this.fingerprint : this.fingerprint()
    glyphs.flush()
    glyphs.use(REGULAR, FOOTER_SIZE)
    glyphs.text(`SHA-256 fingerprint: ${fingerprint}`, LEFT, FOOTER_TOP + 10)
    const [font, dictionary] = glyphs.fontResource()
    this.fingerprintForm.data.Resources = { Font: { [font]: dictionary } }
    this.fingerprintForm.end(glyphs.take() ?? Buffer.alloc(0))
  }

  private headerBlock(): void {
    const { glyphs, summary } = this
    const { holder, period } = summary
    const points = summary.kind === 'points'
    glyphs.use(BOLD, TITLE_SIZE)
    glyphs.text(points ? 'Points statement' : 'Statement', LEFT, TOP)
    const periodText = `${this.clock.minute(period.from)} – ${this.clock.minute(period.to)} (${period.timeZone})`
    const rows: [string, string, string, string][] = [
      ['Period', periodText, '', ''],
      ['Holder', holder.name ?? '—', 'Opening balance', this.money(summary.openingBalance)],
      ['Email', holder.email ?? '—', 'Closing balance', this.money(summary.closingBalance)],
      ['User ID', holder.userId, 'Money in', this.money(summary.moneyIn)],
      [points ? 'Account' : 'Wallet', summary.accountId ?? '—', 'Money out', this.money(summary.moneyOut)],
      [points ? 'Asset' : 'Currency', summary.currency, 'Transactions', String(summary.count)],
    ]
    // Left: who and which account (UUIDs need the room); right: the figures, right-aligned.
    const labelWidth = 52
    const rightColumn = 300
    let y = TOP + TITLE_H
    for (const [label, value, rightLabel, rightValue] of rows) {
      glyphs.use(BOLD, INFO_SIZE)
      glyphs.text(label, LEFT, y)
      // The period spans the page; the other rows are two label/value columns.
      const valueWidth = (rightLabel ? rightColumn : WIDTH) - labelWidth - CELL_PAD
      glyphs.use(REGULAR, INFO_SIZE)
      glyphs.text(this.fit(value, valueWidth), LEFT + labelWidth, y)
      if (rightLabel) {
        glyphs.use(BOLD, INFO_SIZE)
        glyphs.text(rightLabel, LEFT + rightColumn, y)
        glyphs.use(REGULAR, INFO_SIZE)
        glyphs.text(rightValue, RIGHT - glyphs.width(rightValue), y)
      }
      y += INFO_ROW_H
    }
    glyphs.flush()
    this.flow.y = TOP + HEADER_BLOCK_H
  }

  private sectionHeading(title: string): void {
    const { glyphs, flow } = this
    flow.ensure(SECTION_H + TABLE_HEAD_H + ROW_H)
    glyphs.use(BOLD, SECTION_SIZE)
    glyphs.text(title, LEFT, flow.y)
    glyphs.flush()
    flow.y += SECTION_H
  }

  private tableHead(cols: Column[]): void {
    const { doc, glyphs, flow } = this
    glyphs.flush()
    doc
      .save()
      .rect(LEFT, flow.y, WIDTH, TABLE_HEAD_H - 2)
      .fill('#e8e8e8')
      .restore()
    glyphs.use(BOLD, ROW_SIZE)
    this.cells(
      cols,
      cols.map((col) => col.title),
      flow.y + 2,
    )
    glyphs.flush()
    flow.y += TABLE_HEAD_H
  }

  /** A row of the table `cols`; repeats the table's head at the top of a new page. */
  private row(cols: Column[], values: string[], bold = false): void {
    const { glyphs, flow } = this
    if (flow.ensure(ROW_H)) this.tableHead(cols)
    glyphs.use(bold ? BOLD : REGULAR, ROW_SIZE)
    this.cells(cols, values, flow.y)
    glyphs.flush()
    flow.y += ROW_H
  }

  private readonly cellX: number[] = []
  private readonly cellText: string[] = []

  /**
   * Places a row's cells right to left, then draws them left to right. Figures are never cut: one
   * wider than its column pushes its left neighbour, and text is cut with "…" to the room left.
   */
  private cells(cols: Column[], values: string[], y: number): void {
    const { glyphs, cellX, cellText } = this
    let limit = Number.POSITIVE_INFINITY
    for (let index = cols.length - 1; index >= 0; index--) {
      const col = cols[index]!
      const value = values[index] ?? ''
      const right = Math.min(col.x + col.width - CELL_PAD, limit)
      let x = col.x
      let text = ''
      if (value && col.align === 'right') {
        text = value
        x = right - glyphs.width(value)
      } else if (value) {
        text = this.fit(value, right - col.x)
      }
      cellX[index] = x
      cellText[index] = text
      limit = Math.min(x, col.x) - CELL_PAD
    }
    for (let index = 0; index < cols.length; index++) glyphs.text(cellText[index]!, cellX[index]!, y)
  }

  private totalsTable(): void {
    const { summary } = this
    if (summary.totals.length === 0) return
    this.sectionHeading('Totals by type')
    this.tableHead(TOTAL_COLUMNS)
    for (const total of summary.totals) {
      this.row(TOTAL_COLUMNS, [
        total.type,
        String(total.count),
        this.amount(total.moneyIn),
        this.amount(total.moneyOut),
        this.amount(total.moneyIn - total.moneyOut),
      ])
    }
    this.row(
      TOTAL_COLUMNS,
      [
        'All types',
        String(summary.count),
        this.amount(summary.moneyIn),
        this.amount(summary.moneyOut),
        this.amount(summary.moneyIn - summary.moneyOut),
      ],
      true,
    )
    this.flow.y += SECTION_GAP
  }

  private linesHeading(): void {
    this.sectionHeading('Transactions')
    this.tableHead(LINE_COLUMNS)
    if (this.summary.count === 0) {
      this.glyphs.use(REGULAR, ROW_SIZE)
      this.glyphs.text('No transactions in this period.', LEFT, this.flow.y)
      this.glyphs.flush()
      this.flow.y += ROW_H
    }
  }

  private readonly lineValues: string[] = ['', '', '', '', '', '']

  line(line: StatementLine): void {
    const values = this.lineValues
    values[0] = this.clock.minute(line.at)
    values[1] = line.type
    values[2] = line.description ?? ''
    values[3] =
      line.reference && line.counterparty
        ? `${line.reference} · ${line.counterparty}`
        : (line.reference ?? line.counterparty ?? '')
    values[4] = this.amount(line.amount)
    values[5] = this.amount(line.balanceAfter)
    this.row(LINE_COLUMNS, values)
  }

  /**
   * `text` on one line within `room` points, cut with "…" when longer. Strings short enough that
   * even the widest glyphs fit skip measuring.
   */
  private fit(text: string, room: number): string {
    const { glyphs } = this
    const flat = BEYOND_ASCII.test(text) ? text.normalize('NFC').replace(CONTROL_CHARACTERS, ' ') : text
    if (flat.length * glyphs.fontSize * WIDEST_GLYPH_EM <= room) return flat
    if (glyphs.width(flat) <= room) return flat
    const ellipsis = glyphs.width(ELLIPSIS)
    if (room < ellipsis) return ''
    const end = glyphs.fittingLength(flat, room, ellipsis)
    return `${flat.slice(0, end).trimEnd()}${ELLIPSIS}`
  }
}

/**
 * Writes the statement as an A4 PDF (pdfkit, DejaVu Sans embedded) and ends `out`: header block,
 * totals by type, then the lines with the table head repeated on every page, and on every page a
 * footer with "Page n of m", the generation time and the CSV fingerprint. Streamed page by page
 * with backpressure; the page count comes from pdfPageCount, not from buffering pages. On failure
 * `out` is left open for the caller to destroy.
 */
export async function renderPdf(
  source: StatementSource,
  out: Writable,
  options: PdfRenderOptions,
): Promise<void> {
  const { summary } = source
  const fonts = statementFonts()
  const doc = new PDFDocument({
    size: PAGE_SIZE,
    margin: 0,
    compress: true,
    info: {
      Title:
        `${summary.kind === 'points' ? 'Points statement' : 'Statement'} ${summary.accountId ?? ''}`.trim(),
      Author: 'Coffer',
      CreationDate: summary.generatedAt,
    },
  })
  doc.registerFont(REGULAR, fonts.regular)
  doc.registerFont(BOLD, fonts.bold)
  doc.pipe(out)
  try {
    const pdf = new StatementPdf(doc, summary, options.fingerprint)
    pdf.begin()
    let count = 0
    for await (const chunk of source.lines()) {
      for (const line of chunk) pdf.line(line)
      count += chunk.length
      // pdfkit pushes pages whether or not the output keeps up; wait while it is behind.
      while (doc.readableLength > BUFFER_LIMIT && out.writableNeedDrain) await once(out, 'drain')
      if (chunk.length > 0) await options.onProgress?.(count)
    }
    pdf.finish()
  } catch (error) {
    // Left open, not ended: a half-written statement must not look complete.
    doc.unpipe(out)
    throw error
  }
  doc.end()
  await finished(out)
}
