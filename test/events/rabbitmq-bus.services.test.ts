import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import pino from 'pino'
import { Connection, type SyncMessage } from 'rabbitmq-client'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type {
  CommandEnvelope,
  CommandOutcome,
  EventBus,
  EventEnvelope,
  Subscription,
} from '../../src/events/bus.js'
import {
  COMMANDS_EXCHANGE,
  COMMANDS_QUEUE,
  createRabbitMqBus,
  DEAD_LETTER_QUEUE,
  EVENTS_EXCHANGE,
  parseRetryDelays,
  retryQueueName,
} from '../../src/events/rabbitmq-bus.js'
import { TEST_AMQP_URL } from '../shape.js'

/**
 * The RabbitMQ bus on the real broker, in a vhost of this run's own (created, then deleted), so
 * the queues of other test files on the shared broker are never touched.
 */

const run = promisify(execFile)
const rabbitmqctl = async (...args: string[]) => (await run('rabbitmqctl', args, { timeout: 60_000 })).stdout

const vhost = `coffer-test-bus-${randomUUID().slice(0, 8)}`
const vhostUrl = (() => {
  const url = new URL(TEST_AMQP_URL)
  url.pathname = `/${encodeURIComponent(vhost)}`
  return url.toString()
})()
const user = new URL(TEST_AMQP_URL).username || 'guest'

const serviceUser = `coffer-test-shop-${randomUUID().slice(0, 8)}`
const SERVICE_PASSWORD = randomUUID()
const userUrl = (name: string, password: string) => {
  const url = new URL(vhostUrl)
  url.username = name
  url.password = password
  return url.toString()
}

const RETRY_DELAYS_MS = [300, 600]
const MAX_ATTEMPTS = 3

let bus: EventBus
let probe: Connection
const logLines: Record<string, unknown>[] = []
const logger = pino({ level: 'debug' }, { write: (line: string) => logLines.push(JSON.parse(line)) })
const open: Subscription[] = []

function event(type: string, aggregateId: string, n = 0): EventEnvelope {
  return {
    id: randomUUID(),
    type,
    version: 1,
    occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    aggregate: { type: 'wallet', id: aggregateId },
    data: { n, amount: '1.50' },
  }
}

/** An exclusive queue of the probe bound to `coffer.events`, read with basic.get. */
async function tapEvents(pattern = '#'): Promise<string> {
  const { queue } = await probe.queueDeclare({ exclusive: true })
  await probe.queueBind({ queue, exchange: EVENTS_EXCHANGE, routingKey: pattern })
  return queue
}

async function getAll(queue: string): Promise<SyncMessage[]> {
  const messages: SyncMessage[] = []
  for (;;) {
    const message = await probe.basicGet({ queue, noAck: true })
    if (!message) return messages
    messages.push(message)
  }
}

async function waitFor<T>(
  read: () => T | undefined | Promise<T | undefined>,
  what: string,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await read()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

const readyCount = async (queue: string) => (await probe.queueDeclare({ queue, passive: true })).messageCount

async function consume(handler: (command: CommandEnvelope) => Promise<CommandOutcome>, prefetch = 4) {
  const subscription = await bus.consumeCommands(handler, { prefetch })
  open.push(subscription)
  return subscription
}

describe('RabbitMQ event bus', () => {
  beforeAll(async () => {
    await rabbitmqctl('add_vhost', vhost)
    await rabbitmqctl('set_permissions', '-p', vhost, user, '.*', '.*', '.*')
    await rabbitmqctl('add_user', serviceUser, SERVICE_PASSWORD)
    await rabbitmqctl('set_permissions', '-p', vhost, serviceUser, '.*', '.*', '.*')
    bus = await createRabbitMqBus({
      url: vhostUrl,
      logger,
      maxAttempts: MAX_ATTEMPTS,
      retryDelaysMs: RETRY_DELAYS_MS,
      reconnectMaxDelayMs: 1000,
    })
    probe = new Connection({ url: vhostUrl, retryHigh: 1000 })
    probe.on('error', () => undefined)
    await probe.onConnect(10_000)
  })

  afterEach(async () => {
    await Promise.all(open.splice(0).map((subscription) => subscription.close()))
    await probe.queuePurge(COMMANDS_QUEUE)
    await probe.queuePurge(DEAD_LETTER_QUEUE)
  })

  afterAll(async () => {
    await bus?.close()
    await probe?.close()
    await rabbitmqctl('delete_vhost', vhost)
    await rabbitmqctl('delete_user', serviceUser)
  })

  it('declares the topology: exchanges, quorum queues, delay queues', async () => {
    const queues = await rabbitmqctl(
      'list_queues',
      '-p',
      vhost,
      'name',
      'type',
      'durable',
      'arguments',
      '--no-table-headers',
    )
    expect(queues).toMatch(new RegExp(`^${COMMANDS_QUEUE}\\s+quorum\\s+true`, 'm'))
    expect(queues).toMatch(new RegExp(`^${DEAD_LETTER_QUEUE}\\s+quorum\\s+true`, 'm'))
    for (const delay of RETRY_DELAYS_MS) {
      expect(queues).toMatch(
        new RegExp(`^${retryQueueName(delay).replaceAll('.', '\\.')}\\s+classic\\s+true.*x-message-ttl`, 'm'),
      )
    }
    const exchanges = await rabbitmqctl(
      'list_exchanges',
      '-p',
      vhost,
      'name',
      'type',
      'durable',
      '--no-table-headers',
    )
    expect(exchanges).toMatch(new RegExp(`^${EVENTS_EXCHANGE}\\s+topic\\s+true`, 'm'))
    expect(exchanges).toMatch(new RegExp(`^${COMMANDS_EXCHANGE}\\s+direct\\s+true`, 'm'))
  })

  it('refuses to start on a topology that clashes with what exists, naming it', async () => {
    const clashing = retryQueueName(7000)
    await probe.queueDeclare({ queue: clashing, durable: true })
    await expect(
      createRabbitMqBus({ url: vhostUrl, logger, retryDelaysMs: [7000], maxAttempts: MAX_ATTEMPTS }),
    ).rejects.toThrow(/topology could not be declared/)
    await probe.queueDelete({ queue: clashing })
  })

  it('refuses bad options before connecting', async () => {
    await expect(createRabbitMqBus({ url: vhostUrl, logger, maxAttempts: 0 })).rejects.toThrow(/maxAttempts/)
    await expect(createRabbitMqBus({ url: vhostUrl, logger, retryDelaysMs: [] })).rejects.toThrow(
      /retryDelaysMs/,
    )
    expect(() => parseRetryDelays('1000,,5')).toThrow(/comma-separated positive integers/)
    expect(parseRetryDelays('1000,5000')).toEqual([1000, 5000])
  })

  it('publish resolves once confirmed: messages are in the queue, with their properties', async () => {
    const queue = await tapEvents()
    const events = [event('wallet.created', 'w-1', 1), event('transaction.posted', 'w-1', 2)]
    await bus.publish(events)
    const messages = await getAll(queue)
    expect(messages.map((m) => m.messageId)).toEqual(events.map((e) => e.id))
    const [first] = messages as [SyncMessage]
    expect(first).toMatchObject({
      exchange: EVENTS_EXCHANGE,
      routingKey: 'wallet.created',
      type: 'wallet.created',
      contentType: 'application/json',
      durable: true,
      timestamp: Date.parse(events[0]!.occurredAt) / 1000,
    })
    expect(first.body).toEqual(events[0])
    expect(first.headers).toMatchObject({ 'x-coffer-aggregate-id': 'w-1', 'x-coffer-version': 1 })
  })

  it('publish rejects when the broker refuses a message (nack)', async () => {
    // A full queue that rejects publishes makes the broker nack every message routed to it.
    const full = `full-${randomUUID()}`
    await probe.queueDeclare({
      queue: full,
      exclusive: true,
      arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' },
    })
    await probe.queueBind({ queue: full, exchange: EVENTS_EXCHANGE, routingKey: 'refused.#' })
    await expect(bus.publish([event('refused.one', 'w-2')])).rejects.toThrow()
    await probe.queueDelete({ queue: full })
  })

  it('subscribe delivers matching events in publish order, and redelivers after a failure', async () => {
    const seen: string[] = []
    let failOnce = true
    open.push(
      await bus.subscribe(`order-${randomUUID().slice(0, 8)}`, ['wallet.*'], async (received) => {
        if (failOnce && received.data.n === 5) {
          failOnce = false
          throw new Error('the subscriber failed once')
        }
        // Handlers that take a varying time would finish out of order if run side by side.
        await sleep(Math.random() * 5)
        seen.push(received.id)
      }),
    )
    const events = Array.from({ length: 20 }, (_, n) =>
      event(n % 2 ? 'wallet.frozen' : 'wallet.unfrozen', 'w-3', n),
    )
    await bus.publish([...events, event('transaction.posted', 'w-3', 99)])
    await waitFor(() => (seen.length >= 20 ? true : undefined), '20 events')
    await sleep(200)
    expect(failOnce).toBe(false)
    // The failed one came again; nothing else, and the unmatched type never.
    expect(new Set(seen)).toEqual(new Set(events.map((e) => e.id)))
    expect(seen).toHaveLength(20)
    const failed = events[5]!.id
    expect(seen.filter((id) => id !== failed)).toEqual(events.map((e) => e.id).filter((id) => id !== failed))
  })

  it('a subscription keeps its durable queue: events published while it is closed arrive after', async () => {
    const name = `durable-${randomUUID().slice(0, 8)}`
    const seen: string[] = []
    const first = await bus.subscribe(name, ['hold.#'], async (received) => void seen.push(received.id))
    await first.close()
    const missed = event('hold.created', 'w-4')
    await bus.publish([missed])
    open.push(await bus.subscribe(name, ['hold.#'], async (received) => void seen.push(received.id)))
    await waitFor(() => (seen.length ? true : undefined), 'the event published while closed')
    expect(seen).toEqual([missed.id])
    await probe.queueDelete({ queue: `${EVENTS_EXCHANGE}.${name}` })
  })

  it('refuses bad arguments with a clear error', async () => {
    await expect(bus.sendCommand('money.printed', {})).rejects.toThrow(/unknown command type "money.printed"/)
    await expect(bus.subscribe('bad name!', ['#'], async () => undefined)).rejects.toThrow(
      /subscription name/,
    )
    await expect(bus.subscribe('ok', [], async () => undefined)).rejects.toThrow(/at least one pattern/)
    await expect(bus.subscribe('ok', ['a..b'], async () => undefined)).rejects.toThrow(/topic pattern/)
    await expect(bus.consumeCommands(async () => ({ kind: 'done' }), { prefetch: 0 })).rejects.toThrow(
      /prefetch/,
    )
    expect(await readyCount(COMMANDS_QUEUE)).toBe(0)
  })

  it('a command that ends done is handed over with its properties, then acked', async () => {
    const received: CommandEnvelope[] = []
    const subscription = await consume(async (command) => {
      received.push(command)
      return { kind: 'done' }
    })
    const body = { operationId: randomUUID(), walletId: 'w-5', amount: '10.00' }
    await bus.sendCommand('deposit.requested', body, {
      replyTo: 'replies',
      correlationId: 'c-1',
      sender: 'shop',
    })
    const [command] = await waitFor(() => (received.length ? received : undefined), 'the command')
    expect(command).toMatchObject({
      type: 'deposit.requested',
      sender: 'shop',
      replyTo: 'replies',
      correlationId: 'c-1',
      attempt: 0,
    })
    expect(JSON.parse(command!.body.toString())).toEqual(body)
    // Closing the consumer would requeue an unacked command.
    await subscription.close()
    expect(await readyCount(COMMANDS_QUEUE)).toBe(0)
    expect(await readyCount(DEAD_LETTER_QUEUE)).toBe(0)
  })

  it('retry redelivers after the delay with attempt + 1; a throw is a retry too', async () => {
    const deliveries: { attempt: number; at: number; headers: Record<string, unknown> }[] = []
    await consume(async (command) => {
      deliveries.push({ attempt: command.attempt, at: Date.now(), headers: command.headers })
      if (command.attempt === 0) return { kind: 'retry', reason: 'serialization failure' }
      if (command.attempt === 1) throw new Error('database down')
      return { kind: 'done' }
    })
    await bus.sendCommand('withdrawal.requested', { operationId: randomUUID() })
    await waitFor(() => (deliveries.length >= 3 ? true : undefined), 'three deliveries')
    expect(deliveries.map((d) => d.attempt)).toEqual([0, 1, 2])
    expect(deliveries[1]!.at - deliveries[0]!.at).toBeGreaterThanOrEqual(RETRY_DELAYS_MS[0]!)
    expect(deliveries[2]!.at - deliveries[1]!.at).toBeGreaterThanOrEqual(RETRY_DELAYS_MS[1]!)
    expect(deliveries[1]!.headers['x-coffer-reason']).toBe('serialization failure')
    expect(deliveries[2]!.headers['x-coffer-reason']).toBe('handler error: database down')
    await sleep(100)
    expect(await readyCount(DEAD_LETTER_QUEUE)).toBe(0)
  })

  it('dead and max attempts land in coffer.commands.dead with the reason; the consumer goes on', async () => {
    const calls: string[] = []
    await consume(async (command) => {
      const { operationId } = JSON.parse(command.body.toString()) as { operationId: string }
      calls.push(operationId)
      return operationId.startsWith('dead')
        ? { kind: 'dead', reason: 'insufficient funds' }
        : { kind: 'retry', reason: 'lock timeout' }
    })
    await bus.sendCommand('transfer.requested', { operationId: 'dead-1' }, { sender: 'shop' })
    await bus.sendCommand('transfer.requested', { operationId: 'tired-1' })
    const dead = await waitFor(async () => {
      const count = await readyCount(DEAD_LETTER_QUEUE)
      return count >= 2 ? getAllFrom(DEAD_LETTER_QUEUE) : undefined
    }, 'two dead letters')
    const byId = new Map(dead.map((m) => [(m.body as { operationId: string }).operationId, m]))
    expect(byId.get('dead-1')?.headers).toMatchObject({
      'x-coffer-reason': 'insufficient funds',
      'x-coffer-attempts': 1,
    })
    expect(byId.get('dead-1')).toMatchObject({ type: 'transfer.requested', appId: 'shop' })
    expect(byId.get('tired-1')?.headers).toMatchObject({
      'x-coffer-reason': 'gave up after 3 attempts: lock timeout',
      'x-coffer-attempts': MAX_ATTEMPTS,
    })
    expect(calls.filter((id) => id === 'tired-1')).toHaveLength(MAX_ATTEMPTS)
    expect(calls.filter((id) => id === 'dead-1')).toHaveLength(1)
    expect(await readyCount(COMMANDS_QUEUE)).toBe(0)
  })

  it('a poison (non-JSON) body goes to the dead letters and does not block the next command', async () => {
    const received: string[] = []
    await consume(async (command) => {
      received.push(command.body.toString())
      return { kind: 'done' }
    }, 1)
    const raw = probe.createPublisher({ confirm: true })
    await raw.send(
      { exchange: COMMANDS_EXCHANGE, routingKey: 'deposit.requested', contentType: 'application/json' },
      Buffer.from('{not json'),
    )
    await raw.send(
      { exchange: COMMANDS_EXCHANGE, routingKey: 'deposit.requested' },
      Buffer.from([0xff, 0xfe, 0x00]),
    )
    await raw.close()
    await bus.sendCommand('deposit.requested', { operationId: 'after-poison' })
    await waitFor(() => (received.length ? true : undefined), 'the command after the poison')
    expect(received.map((body) => JSON.parse(body))).toEqual([{ operationId: 'after-poison' }])
    const dead = await waitFor(
      async () => ((await readyCount(DEAD_LETTER_QUEUE)) >= 2 ? getAllFrom(DEAD_LETTER_QUEUE) : undefined),
      'poison dead letters',
    )
    for (const message of dead)
      expect(String(message.headers?.['x-coffer-reason'])).toMatch(/^unreadable body: not JSON/)
    expect(Buffer.from(dead[0]!.body as Buffer).toString()).toBe('{not json')
  })

  it('the sender is the broker-checked user_id: another user cannot pose as Coffer; retries keep it', async () => {
    const senders: { sender: string | null; attempt: number }[] = []
    await consume(async (command) => {
      senders.push({ sender: command.sender, attempt: command.attempt })
      return command.attempt === 0 ? { kind: 'retry', reason: 'once' } : { kind: 'done' }
    })
    const shop = new Connection({ url: userUrl(serviceUser, SERVICE_PASSWORD), retryHigh: 1000 })
    shop.on('error', () => undefined)
    const shopPublisher = shop.createPublisher({ confirm: true })
    // app_id names Coffer's own sender, but user_id says who the broker let in.
    await shopPublisher.send(
      { exchange: COMMANDS_EXCHANGE, routingKey: 'deposit.requested', userId: serviceUser, appId: 'coffer' },
      { operationId: 'from-shop' },
    )
    await expect(
      shopPublisher.send({ exchange: COMMANDS_EXCHANGE, routingKey: 'deposit.requested', userId: user }, {}),
    ).rejects.toThrow(/user_id/)
    await shopPublisher.close()
    await shop.close()
    const anonymous = probe.createPublisher({ confirm: true })
    await anonymous.send(
      { exchange: COMMANDS_EXCHANGE, routingKey: 'deposit.requested' },
      { operationId: 'anonymous' },
    )
    await anonymous.close()
    await bus.sendCommand('deposit.requested', { operationId: 'own' }, { sender: 'coffer' })
    await waitFor(() => (senders.length >= 6 ? true : undefined), 'three commands, each retried once')
    const byAttempt = (attempt: number) =>
      senders
        .filter((s) => s.attempt === attempt)
        .map((s) => s.sender)
        .sort()
    expect(byAttempt(0)).toEqual(['coffer', null, serviceUser].sort())
    expect(byAttempt(1)).toEqual(byAttempt(0))
  })

  it('reply answers reply_to with the correlation id, confirmed', async () => {
    const { queue } = await probe.queueDeclare({ exclusive: true })
    await bus.reply?.(queue, 'corr-1', { status: 'succeeded' })
    const [answer] = await getAll(queue)
    expect(answer).toMatchObject({
      correlationId: 'corr-1',
      contentType: 'application/json',
      body: { status: 'succeeded' },
    })
  })

  it('reconnects after the broker drops the connection: check fails, then consumers and publishing resume', async () => {
    const events: string[] = []
    const commands: string[] = []
    open.push(
      await bus.subscribe(
        `reconnect-${randomUUID().slice(0, 8)}`,
        ['#'],
        async (e) => void events.push(e.id),
      ),
    )
    await consume(async (command) => {
      commands.push(command.body.toString())
      return { kind: 'done' }
    })
    const linesBefore = logLines.length
    await rabbitmqctl('close_all_connections', '-p', vhost, 'coffer test: reconnect')
    await waitFor(
      async () =>
        (await bus.check().then(
          () => false,
          () => true,
        ))
          ? true
          : undefined,
      'check to fail',
      5000,
    )
    await expect(bus.publish([event('wallet.closed', 'w-6')])).rejects.toThrow(/not connected/)
    await waitFor(
      async () =>
        (await bus.check().then(
          () => true,
          () => false,
        ))
          ? true
          : undefined,
      'reconnection',
      15_000,
    )
    await waitFor(async () => (probe.ready ? true : undefined), 'the probe to reconnect', 15_000)
    const after = event('wallet.created', 'w-7')
    // The consumers come back on their own, shortly after the connection.
    await waitFor(
      async () => {
        await bus.publish([after])
        return events.includes(after.id) ? true : undefined
      },
      'an event after reconnection',
      15_000,
    )
    await waitFor(
      async () => {
        await bus.sendCommand('deposit.requested', { operationId: 'after-reconnect' })
        return commands.length ? true : undefined
      },
      'a command after reconnection',
      15_000,
    )
    const lost = logLines
      .slice(linesBefore)
      .filter((line) => line.msg === 'RabbitMQ connection lost; reconnecting with backoff')
    expect(lost).toHaveLength(1)
  })
})

async function getAllFrom(queue: string): Promise<SyncMessage[]> {
  return getAll(queue)
}
