import { describe, expect, it } from 'vitest'
import type { CommandEnvelope, CommandOutcome, EventEnvelope } from './bus.js'
import { InProcessBus, topicMatches } from './in-process-bus.js'

function event(type: string, n: number): EventEnvelope {
  return {
    id: `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`,
    type,
    version: 1,
    occurredAt: new Date(0).toISOString(),
    aggregate: { type: 'wallet', id: 'w1' },
    data: { n },
  }
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(condition: () => boolean, timeoutMs = 2000) {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await tick(2)
  }
}

describe('topic patterns', () => {
  it.each([
    ['transaction.posted', 'transaction.posted', true],
    ['transaction.*', 'transaction.posted', true],
    ['transaction.*', 'transaction', false],
    ['*.posted', 'transaction.posted', true],
    ['*', 'transaction.posted', false],
    ['#', 'transaction.posted', true],
    ['#', 'wallet', true],
    ['wallet.#', 'wallet', true],
    ['wallet.#', 'wallet.frozen', true],
    ['#.frozen', 'wallet.frozen', true],
    ['#.frozen', 'wallet.unfrozen', false],
    ['hold.#.done', 'hold.a.b.done', true],
    ['hold.*', 'wallet.created', false],
  ])('%s matches %s: %s', (pattern, key, expected) => {
    expect(topicMatches(pattern, key)).toBe(expected)
  })
})

describe('events', () => {
  it('delivers matching events in publish order, concurrent publishes included, and resolves after the handlers', async () => {
    const bus = new InProcessBus()
    const wallets: number[] = []
    const all: number[] = []
    await bus.subscribe('wallets', ['wallet.*'], async (e) => {
      await tick(Number(e.data.n) % 3)
      wallets.push(Number(e.data.n))
    })
    await bus.subscribe('all', ['#'], async (e) => {
      all.push(Number(e.data.n))
    })
    const first = bus.publish([
      event('wallet.created', 1),
      event('transaction.posted', 2),
      event('wallet.frozen', 3),
    ])
    const second = bus.publish([event('wallet.unfrozen', 4)])
    await first
    expect(wallets).toEqual([1, 3])
    await second
    expect(wallets).toEqual([1, 3, 4])
    expect(all).toEqual([1, 2, 3, 4])
    await bus.close()
  })

  it('rejects publish when a subscriber throws, stops that subscriber there, and delivers to the others', async () => {
    const bus = new InProcessBus()
    const failing: number[] = []
    const healthy: number[] = []
    await bus.subscribe('failing', ['#'], async (e) => {
      if (e.data.n === 2) throw new Error('cache down')
      failing.push(Number(e.data.n))
    })
    await bus.subscribe('healthy', ['#'], async (e) => {
      healthy.push(Number(e.data.n))
    })
    const events = [event('a.b', 1), event('a.b', 2), event('a.b', 3)]
    await expect(bus.publish(events)).rejects.toThrow('cache down')
    expect(failing).toEqual([1])
    expect(healthy).toEqual([1, 2, 3])
    // A later publish is not blocked by the failed one.
    await bus.publish([event('a.b', 4)])
    expect(healthy).toEqual([1, 2, 3, 4])
    await bus.close()
  })

  it('stops delivering to a closed subscription and refuses a second subscription of one name', async () => {
    const bus = new InProcessBus()
    const seen: number[] = []
    const sub = await bus.subscribe('s', ['#'], async (e) => {
      seen.push(Number(e.data.n))
    })
    await expect(bus.subscribe('s', ['#'], async () => {})).rejects.toThrow('already exists')
    await expect(bus.subscribe('t', [], async () => {})).rejects.toThrow('at least one pattern')
    await bus.publish([event('x', 1)])
    await sub.close()
    await bus.publish([event('x', 2)])
    expect(seen).toEqual([1])
    await bus.check()
    await bus.close()
    await expect(bus.check()).rejects.toThrow('closed')
    await expect(bus.publish([event('x', 3)])).rejects.toThrow('closed')
  })
})

describe('commands', () => {
  it('queues commands until a consumer comes, with body, sender, reply address and attempt 0', async () => {
    const bus = new InProcessBus()
    await bus.sendCommand(
      'deposit.requested',
      { operationId: 'op-1', amount: '1.00' },
      {
        sender: 'shop',
        replyTo: 'replies',
        correlationId: 'c-1',
      },
    )
    expect(bus.pendingCommands()).toBe(1)
    const got: CommandEnvelope[] = []
    await bus.consumeCommands(
      async (command) => {
        got.push(command)
        return { kind: 'done' }
      },
      { prefetch: 1 },
    )
    await until(() => got.length === 1)
    expect(got[0]).toMatchObject({
      type: 'deposit.requested',
      sender: 'shop',
      replyTo: 'replies',
      correlationId: 'c-1',
      attempt: 0,
    })
    expect(JSON.parse(got[0]!.body.toString())).toEqual({ operationId: 'op-1', amount: '1.00' })
    expect(bus.deadLetters()).toEqual([])
    await bus.close()
  })

  it('honours prefetch: never more commands in flight than it allows', async () => {
    const bus = new InProcessBus()
    let inFlight = 0
    let most = 0
    let done = 0
    await bus.consumeCommands(
      async () => {
        inFlight++
        most = Math.max(most, inFlight)
        await tick(5)
        inFlight--
        done++
        return { kind: 'done' }
      },
      { prefetch: 3 },
    )
    for (let i = 0; i < 10; i++) await bus.sendCommand('deposit.requested', { i })
    await until(() => done === 10)
    expect(most).toBe(3)
    await expect(bus.consumeCommands(async () => ({ kind: 'done' }), { prefetch: 0 })).rejects.toThrow(
      'prefetch',
    )
    await bus.close()
  })

  it('retries with a backoff and attempt + 1, treats a throw as a retry, and gives up after maxAttempts', async () => {
    const bus = new InProcessBus({ maxAttempts: 3, retryDelaysMs: [10, 30] })
    const attempts: { attempt: number; at: number }[] = []
    const started = Date.now()
    await bus.consumeCommands(
      async (command): Promise<CommandOutcome> => {
        attempts.push({ attempt: command.attempt, at: Date.now() - started })
        if (command.attempt === 1) throw new Error('connection reset')
        return { kind: 'retry', reason: 'database unavailable' }
      },
      { prefetch: 1 },
    )
    await bus.sendCommand('transfer.requested', { operationId: 'op-2' })
    await until(() => bus.deadLetters().length === 1)
    expect(attempts.map((a) => a.attempt)).toEqual([0, 1, 2])
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(9)
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(29)
    expect(bus.deadLetters()[0]).toMatchObject({
      attempts: 3,
      reason: 'gave up after 3 attempts: database unavailable',
      command: { type: 'transfer.requested', attempt: 2 },
    })
    await bus.close()
  })

  it('keeps a dead command with its reason, and a poison body does not block the next command', async () => {
    const bus = new InProcessBus()
    const handled: string[] = []
    await bus.consumeCommands(
      async (command): Promise<CommandOutcome> => {
        try {
          handled.push(JSON.parse(command.body.toString()).operationId)
          return { kind: 'done' }
        } catch {
          return { kind: 'dead', reason: 'body is not JSON' }
        }
      },
      { prefetch: 1 },
    )
    await bus.sendCommand('deposit.requested', Buffer.from('{not json'))
    await bus.sendCommand('deposit.requested', { operationId: 'op-3' })
    await until(() => handled.length === 1)
    expect(handled).toEqual(['op-3'])
    expect(bus.deadLetters()).toHaveLength(1)
    expect(bus.deadLetters()[0]).toMatchObject({ reason: 'body is not JSON', attempts: 1 })
    expect(bus.deadLetters()[0]!.command.body.toString()).toBe('{not json')
    await bus.close()
  })
})

describe('options', () => {
  it('refuses a bound or backoff that makes no sense, with a clear message', () => {
    expect(() => new InProcessBus({ maxAttempts: 0 })).toThrow('maxAttempts must be a positive integer')
    expect(() => new InProcessBus({ retryDelaysMs: [] })).toThrow(
      'retryDelaysMs must list at least one delay',
    )
    expect(() => new InProcessBus({ retryDelaysMs: [10, -1] })).toThrow('none negative')
  })
})
