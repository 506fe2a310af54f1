import { Writable } from 'node:stream'
import type {
  StatementLine,
  StatementSource,
  StatementSummary,
  StatementTypeTotal,
} from './statement-types.js'

/** What a test says about a line; the rest (time, balance) the fake derives. */
export interface FakeLine {
  amount: bigint
  type?: string
  description?: string | null
  reference?: string | null
  counterparty?: string | null
  transactionId?: string | null
}

export interface FakeSourceOptions {
  lines?: FakeLine[]
  /** Generate this many lines instead of listing them (amounts vary, descriptions repeat). */
  generated?: number
  openingBalance?: bigint
  currency?: string
  decimals?: number
  kind?: StatementSummary['kind']
  timeZone?: string
  from?: Date
  to?: Date
  chunkSize?: number
}

const FROM = new Date('2026-11-01T00:00:00.000Z')
const TO = new Date('2026-12-01T00:00:00.000Z')

function generatedLine(index: number): FakeLine {
  // Types the ledger writes: a transfer comes in (even index) or goes out (odd).
  const types = ['deposit', 'transfer', 'transfer', 'withdrawal'] as const
  const type = types[index % types.length]!
  const magnitude = BigInt(((index * 7919) % 100_000) + 1)
  return {
    type,
    amount: index % 2 === 0 ? magnitude : -magnitude,
    description: index % 3 === 0 ? `Coffee at Café №${index % 17}` : `Transfer ${index}`,
    reference: `INV-${index}`,
    counterparty: index % 2 === 0 ? '0193a0b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b' : 'external',
    transactionId: `0193a0b2-7c3d-7e4f-8a9b-${String(index).padStart(12, '0')}`,
  }
}

/**
 * An in-memory StatementSource whose summary is computed from its lines (so opening + sum = closing
 * holds by construction). Lines are spread evenly over the period and yielded in small chunks, so
 * the renderers' chunk loop is exercised.
 */
export function fakeSource(options: FakeSourceOptions = {}): StatementSource {
  const from = options.from ?? FROM
  const to = options.to ?? TO
  const count = options.generated ?? options.lines?.length ?? 0
  const lineAt = (index: number): FakeLine => options.lines?.[index] ?? generatedLine(index)
  const opening = options.openingBalance ?? 100_000n
  const step = Math.max(1, Math.floor((to.getTime() - from.getTime()) / (count + 1)))

  const totals = new Map<string, StatementTypeTotal>()
  let closing = opening
  let moneyIn = 0n
  let moneyOut = 0n
  for (let index = 0; index < count; index++) {
    const line = lineAt(index)
    const type = line.type ?? 'deposit'
    const total = totals.get(type) ?? { type, moneyIn: 0n, moneyOut: 0n, count: 0 }
    if (line.amount >= 0n) total.moneyIn += line.amount
    else total.moneyOut -= line.amount
    total.count++
    totals.set(type, total)
    closing += line.amount
    if (line.amount >= 0n) moneyIn += line.amount
    else moneyOut -= line.amount
  }

  const summary: StatementSummary = {
    kind: options.kind ?? 'wallet',
    holder: {
      userId: '0193a0b2-0000-7000-8000-000000000001',
      email: 'anna@example.com',
      name: 'Анна Иванова',
    },
    accountId: '0193a0b2-0000-7000-8000-0000000000aa',
    currency: options.currency ?? 'USD',
    decimals: options.decimals ?? 2,
    period: { from, to, timeZone: options.timeZone ?? 'UTC' },
    openingBalance: opening,
    closingBalance: closing,
    moneyIn,
    moneyOut,
    count,
    totals: [...totals.values()].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)),
    generatedAt: new Date('2026-12-01T09:30:00.000Z'),
  }

  return {
    summary,
    async *lines(chunkSize = options.chunkSize ?? 7): AsyncIterable<StatementLine[]> {
      let balance = opening
      for (let start = 0; start < count; start += chunkSize) {
        const chunk: StatementLine[] = []
        for (let index = start; index < Math.min(count, start + chunkSize); index++) {
          const line = lineAt(index)
          balance += line.amount
          chunk.push({
            at: new Date(from.getTime() + step * (index + 1)),
            type: line.type ?? 'deposit',
            description: line.description === undefined ? `Line ${index}` : line.description,
            reference: line.reference ?? null,
            counterparty: line.counterparty ?? null,
            transactionId: line.transactionId ?? null,
            amount: line.amount,
            balanceAfter: balance,
          })
        }
        yield chunk
      }
    },
  }
}

/** A Writable that keeps what it is given, and how many writes it took. */
export class MemorySink extends Writable {
  readonly chunks: Buffer[] = []

  constructor(private readonly delayMs?: number) {
    // A small buffer, so backpressure (write returning false) happens in tests.
    super({ highWaterMark: 256 })
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(chunk)
    if (this.delayMs === undefined) callback()
    else setTimeout(() => callback(), this.delayMs)
  }

  get writes(): number {
    return this.chunks.length
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8')
  }
}

/** `-10.50` → -1050n: reads a rendered amount back to minor units without floats. */
export function minorUnits(decimal: string, decimals: number): bigint {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(decimal)
  if (!match) throw new Error(`not a decimal amount: ${decimal}`)
  const [, sign, whole, fraction = ''] = match
  if (fraction.length !== decimals) throw new Error(`${decimal} should have ${decimals} decimals`)
  const minor = BigInt(whole! + fraction)
  return sign ? -minor : minor
}
