import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CommandEnvelope, Subscription } from '../../src/events/bus.js'
import { contractViolations } from '../../src/events/contracts.js'
import { toEnvelope } from '../../src/events/relay.js'
import { verifyLedger } from '../../src/ledger/verify.js'
import { startCommandConsumer } from '../../src/worker/commands.js'
import { createTestApp, type TestApp } from '../app.js'
import { type SignedUpUser, signUp } from '../auth-fixtures.js'
import { eventually } from '../wallets/fixtures.js'

/**
 * `points.earn.requested` on coffer.commands (issue 13, deliver 2): a service's loyalty engine
 * gives points by command, applied as POST /points/earn is, idempotently by operationId.
 */

const SENDER = 'loyalty-engine'

function command(body: unknown, overrides: Partial<CommandEnvelope> = {}): CommandEnvelope {
  return {
    type: 'points.earn.requested',
    body: Buffer.from(JSON.stringify(body)),
    sender: SENDER,
    replyTo: null,
    correlationId: null,
    attempt: 0,
    headers: {},
    ...overrides,
  }
}

async function figures(t: TestApp, user: SignedUpUser) {
  const response = await t.app.inject({ method: 'GET', url: '/api/v1/points', headers: user.headers })
  expect(response.statusCode, response.body).toBe(200)
  return response.json<{ total: string; available: string; pending: string }>()
}

describe('points.earn.requested', () => {
  let t: TestApp
  let user: SignedUpUser

  beforeAll(async () => {
    t = await createTestApp({ env: { COMMAND_SENDERS: SENDER } })
    user = await signUp(t)
  })
  afterAll(() => t.close())

  it('earns the points once per operationId, with operation.succeeded naming the transaction', async () => {
    const operationId = randomUUID()
    const body = { operationId, userId: user.userId, points: '120', source: 'order', reference: 'order-7' }
    expect(await t.container.commandHandler(command(body))).toEqual({ kind: 'done' })
    // Redelivered: the recorded answer, no second lot.
    expect(await t.container.commandHandler(command(body, { attempt: 1 }))).toEqual({ kind: 'done' })
    expect(await figures(t, user)).toMatchObject({ total: '120', available: '120', pending: '0' })

    const rows = await t.database.db
      .selectFrom('outbox')
      .selectAll()
      .where('type', '=', 'operation.succeeded')
      .execute()
    const mine = rows.filter((row) => (row.payload as { operationId?: string }).operationId === operationId)
    expect(mine).toHaveLength(1)
    expect(contractViolations(toEnvelope(mine[0]!))).toEqual([])
    expect(mine[0]!.payload).toMatchObject({ type: 'points_earn', status: 'succeeded' })
    const earned = await t.database.db
      .selectFrom('outbox')
      .select('payload')
      .where('type', '=', 'points.earned')
      .execute()
    expect(earned).toHaveLength(1)
    const operation = await t.database.db
      .selectFrom('operations')
      .selectAll()
      .where('operation_key', '=', operationId)
      .executeTakeFirstOrThrow()
    expect(operation).toMatchObject({ type: 'points_earn', status: 'succeeded', sender: SENDER })
    expect(await verifyLedger(t.database.db)).toEqual([])
  })

  it('dead-letters a bad body, an unknown user and an unknown sender, changing nothing', async () => {
    const before = await figures(t, user)
    const bad = await t.container.commandHandler(
      command({ operationId: randomUUID(), userId: user.userId, points: '1.5', source: 'order' }),
    )
    expect(bad.kind).toBe('dead')
    const unknownUser = await t.container.commandHandler(
      command({ operationId: randomUUID(), userId: randomUUID(), points: '5', source: 'order' }),
    )
    expect(unknownUser).toMatchObject({ kind: 'dead' })
    const stranger = await t.container.commandHandler(
      command(
        { operationId: randomUUID(), userId: user.userId, points: '5', source: 'order' },
        { sender: 'stranger' },
      ),
    )
    expect(stranger).toEqual({ kind: 'dead', reason: 'unknown_sender: stranger' })
    expect(await figures(t, user)).toEqual(before)
  })

  it('arrives through the bus and is applied by the worker consumer', async () => {
    const consumer: Subscription = await startCommandConsumer(t.container)
    try {
      const before = BigInt((await figures(t, user)).total)
      await t.container.bus.sendCommand(
        'points.earn.requested',
        { operationId: randomUUID(), userId: user.userId, points: '30', source: 'order' },
        { sender: SENDER },
      )
      await eventually(
        async () => BigInt((await figures(t, user)).total) === before + 30n,
        'the command to be applied',
      )
    } finally {
      await consumer.close()
    }
  })
})
