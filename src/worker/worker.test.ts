import { Writable } from 'node:stream'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { createWorker, type WorkerJob } from './worker.js'

function capturedLogger() {
  const lines: { level: number; msg: string; job?: string }[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { logger: pino({ level: 'debug' }, stream), lines }
}

const unavailable = () => Object.assign(new Error('the database system is shutting down'), { code: '57P03' })
const WARN = 40
const ERROR = 50

/** Runs a job under a worker through its list of outcomes, recording when each attempt started. */
async function runUntil(job: Omit<WorkerJob, 'run'>, outcomes: (Error | null)[], options = {}) {
  const { logger, lines } = capturedLogger()
  const started: number[] = []
  let finish!: () => void
  const finished = new Promise<void>((resolve) => {
    finish = resolve
  })
  const worker = createWorker(
    [
      {
        ...job,
        run: async () => {
          started.push(performance.now())
          const outcome = outcomes[started.length - 1]
          if (started.length >= outcomes.length) finish()
          if (outcome) throw outcome
        },
      },
    ],
    logger,
    options,
  )
  worker.start()
  await finished
  await worker.stop()
  const gaps = started.slice(1).map((at, i) => at - started[i]!)
  return { gaps, lines }
}

describe('the worker', () => {
  it('backs off exponentially (capped) while the database is unavailable, then returns to its interval', async () => {
    const { gaps, lines } = await runUntil(
      { name: 'fold', intervalMs: 10 },
      [unavailable(), unavailable(), unavailable(), unavailable(), null, null],
      { backoffInitialMs: 100, backoffMaxMs: 250 },
    )
    // 100, 200, 250 (capped), 250, then the 10 ms interval again (bounds leave room for a busy machine).
    expect(gaps[0]).toBeGreaterThanOrEqual(98)
    expect(gaps[1]).toBeGreaterThanOrEqual(198)
    expect(gaps[2]).toBeGreaterThanOrEqual(248)
    expect(gaps[2]).toBeLessThan(400)
    expect(gaps[3]).toBeGreaterThanOrEqual(248)
    expect(gaps[3]).toBeLessThan(400)
    expect(gaps[4]).toBeLessThan(98)

    const warnings = lines.filter((line) => line.level === WARN)
    expect(warnings.map((w) => w.msg)).toEqual(['worker jobs backing off: database unavailable'])
    expect(lines.filter((line) => line.msg === 'worker jobs resumed: database available')).toHaveLength(1)
    expect(lines.filter((line) => line.level >= ERROR)).toEqual([])
  })

  it('warns once per outage however many jobs meet it, and says once when they resume', async () => {
    const { logger, lines } = capturedLogger()
    let databaseUp = false
    const runs = new Map<string, number>()
    const job = (name: string): WorkerJob => ({
      name,
      intervalMs: 10,
      run: async () => {
        runs.set(name, (runs.get(name) ?? 0) + 1)
        if (!databaseUp) throw unavailable()
      },
    })
    const worker = createWorker([job('fold'), job('expire'), job('purge')], logger, {
      backoffInitialMs: 20,
      backoffMaxMs: 40,
    })
    worker.start()
    await new Promise((resolve) => setTimeout(resolve, 300))
    databaseUp = true
    await new Promise((resolve) => setTimeout(resolve, 200))
    await worker.stop()
    expect(Math.min(...runs.values())).toBeGreaterThan(3)
    expect(lines.filter((line) => line.level === WARN)).toHaveLength(1)
    expect(lines.filter((line) => line.msg === 'worker jobs resumed: database available')).toHaveLength(1)
  })

  it('logs any other failure as an error each time and keeps the interval', async () => {
    const { gaps, lines } = await runUntil(
      { name: 'purge', intervalMs: 10 },
      [new Error('a bug'), new Error('a bug'), null],
      { backoffInitialMs: 500, backoffMaxMs: 500 },
    )
    expect(Math.max(...gaps)).toBeLessThan(400)
    expect(lines.filter((line) => line.level === ERROR)).toHaveLength(2)
    expect(lines.filter((line) => line.level === WARN)).toEqual([])
  })
})
