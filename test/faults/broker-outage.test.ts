import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { Connection, type Consumer } from 'rabbitmq-client'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { withAdmin } from '../database.js'
import { databaseUrlFor } from '../shape.js'
import { acknowledged, call, cofferEnv, Load, prepareLedger, reportSummary } from './support/api.js'
import { type CofferProcess, startCoffer, until } from './support/processes.js'
import { startThrowawayRabbitMq, type ThrowawayRabbitMq } from './support/rabbitmq.js'

/**
 * RabbitMQ (a node of this test's own) stopped for 30 s under steady writes, then started again.
 * Promised (issue 11): the API keeps accepting synchronous writes, since the outbox holds the
 * events; readiness names the broker while it is away; once it is back every event of the outbox
 * reaches a consumer bound to `coffer.events`, none lost (duplicates allowed: at-least-once).
 */

const OUTAGE_MS = 30_000
const COUNTER_QUEUE = 'fault-counter'

const name = `coffer_fault_broker_${randomUUID().replaceAll('-', '').slice(0, 12)}`
const databaseUrl = databaseUrlFor(name)
let broker: ThrowawayRabbitMq | undefined
let coffer: CofferProcess | undefined
let counter: Connection | undefined
let counterConsumer: Consumer | undefined
/** Every event id the counter received, with how many times. */
const received = new Map<string, number>()

beforeAll(async () => {
  broker = await startThrowawayRabbitMq()
  await withAdmin((admin) => admin.query(`create database ${name}`))
  // Bound before the first write and durable, so the events of the outage wait for it.
  counter = new Connection({ url: broker.url, retryLow: 200, retryHigh: 1000 })
  counter.on('error', () => undefined)
  counterConsumer = counter.createConsumer(
    {
      queue: COUNTER_QUEUE,
      queueOptions: { durable: true, arguments: { 'x-queue-type': 'quorum' } },
      exchanges: [{ exchange: 'coffer.events', type: 'topic', durable: true }],
      queueBindings: [{ exchange: 'coffer.events', queue: COUNTER_QUEUE, routingKey: '#' }],
      qos: { prefetchCount: 200 },
    },
    async (message) => {
      const id = String(message.messageId)
      received.set(id, (received.get(id) ?? 0) + 1)
    },
  )
  counterConsumer.on('error', () => undefined)
  await new Promise<void>((resolve) => counterConsumer?.once('ready', () => resolve()))
  coffer = await startCoffer({
    ...cofferEnv(databaseUrl),
    AMQP_URL: broker.url,
    OUTBOX_RELAY_INTERVAL_MS: '50',
  })
})

afterAll(async () => {
  await coffer?.stop()
  await counterConsumer?.close()
  await counter?.close()
  await broker?.stop()
  await withAdmin((admin) => admin.query(`drop database if exists ${name} with (force)`))
})

async function outboxIds(): Promise<{ all: string[]; unpublished: number }> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ id: string; published: boolean }>(
      'select id::text as id, published_at is not null as published from outbox',
    )
    return { all: rows.map((row) => row.id), unpublished: rows.filter((row) => !row.published).length }
  } finally {
    await client.end()
  }
}

interface Readiness {
  status: number
  detail: string
  broker: string | undefined
}

async function readiness(baseUrl: string): Promise<Readiness> {
  const ready = await call(baseUrl, 'GET', '/health/ready')
  const health = await call(baseUrl, 'GET', '/health')
  const dependencies = (health.body as { dependencies?: { name: string; status: string }[] } | null)
    ?.dependencies
  return {
    status: ready.status,
    detail: String((ready.body as { detail?: string } | null)?.detail ?? ''),
    broker: dependencies?.find((d) => d.name === 'broker')?.status,
  }
}

it('keeps accepting writes with RabbitMQ down for 30 s, then delivers every event of the outbox', async () => {
  const running = coffer!
  const { baseUrl } = running
  const ledger = await prepareLedger(baseUrl, 4)
  const load = new Load(() => baseUrl, ledger, { concurrency: 4, pauseMs: 25, maxRequests: 20_000 })
  load.start()
  await sleep(2000)

  await broker!.stopApp()
  const outageStarted = Date.now()
  const sentBeforeOutage = load.movements.length
  await until(async () => (await readiness(baseUrl)).status === 503, 'readiness to report the broker', 10_000)
  const during = await readiness(baseUrl)
  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - outageStarted)))
  const duringOutage = load.movements.slice(sentBeforeOutage)
  await broker!.startApp()

  await until(
    async () => (await readiness(baseUrl)).status === 200,
    'readiness after the broker is back',
    30_000,
  )
  await sleep(2000)
  await load.stop()

  // Every event of the outbox reaches the consumer once the relay has caught up.
  let missing: string[] = []
  await until(
    async () => {
      const { all, unpublished } = await outboxIds()
      missing = all.filter((id) => !received.has(id))
      return unpublished === 0 && missing.length === 0
    },
    'every outbox event at the consumer',
    60_000,
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}: ${missing.length} missing\n${running.output()}`)
  })
  const { all } = await outboxIds()
  const duplicates = [...received.values()].filter((n) => n > 1).length
  await reportSummary(
    `broker-outage: ${load.movements.length} writes (${duringOutage.length} during the ${OUTAGE_MS / 1000} s outage, ` +
      `${duringOutage.filter((m) => acknowledged(m.answer)).length} acknowledged), ${all.length} events in the outbox, ` +
      `${all.filter((id) => received.has(id)).length} delivered, ${duplicates} delivered more than once`,
  )

  expect(load.failures({ connectionErrorsAllowed: false })).toEqual([])
  expect(duringOutage.length).toBeGreaterThan(50)
  expect(duringOutage.every((m) => acknowledged(m.answer))).toBe(true)
  expect(during.detail).toMatch(/broker/)
  expect(during.broker).toBe('down')
  expect(all.length).toBeGreaterThan(load.movements.length)
  expect(missing).toEqual([])
  expect(running.exit).toBeNull()
})
