import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { Connection } from 'rabbitmq-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CommandEnvelope, Subscription } from '../../src/events/bus.js'
import { contractViolations } from '../../src/events/contracts.js'
import { InProcessBus } from '../../src/events/in-process-bus.js'
import { toEnvelope } from '../../src/events/relay.js'
import { isTransient } from '../../src/operations/commands.js'
import { startCommandConsumer } from '../../src/worker/commands.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { expectLedgerConsistent } from '../ledger.js'
import { testShape } from '../shape.js'
import { eventually, fund, openWallet, storedBalance } from '../wallets/fixtures.js'

/**
 * Inbound commands (issue 11, deliver 4): deposit.requested, withdrawal.requested and
 * transfer.requested applied through the same services as HTTP, idempotently by operationId
 * scoped to the sender. The handler is called as the bus calls it, on the real database; the
 * last block goes through the container's bus (in-process, or RabbitMQ in the services shape).
 */

const SENDER = 'payments-gateway'
/** Registered only where PostgreSQL and RabbitMQ exist, as the other shape-specific tests. */
const itOnServices = testShape() === 'services' ? it : () => undefined

function command(type: string, body: unknown, overrides: Partial<CommandEnvelope> = {}): CommandEnvelope {
  return {
    type,
    body: Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)),
    sender: SENDER,
    replyTo: null,
    correlationId: null,
    attempt: 0,
    headers: {},
    ...overrides,
  }
}

/** The outbox rows of an operation's events, each checked against its published contract. */
async function operationEvents(t: TestApp, type: string, operationId: string) {
  const rows = await t.database.db.selectFrom('outbox').selectAll().where('type', '=', type).execute()
  const mine = rows.filter((row) => (row.payload as { operationId?: string }).operationId === operationId)
  for (const row of mine) expect(contractViolations(toEnvelope(row))).toEqual([])
  return mine
}

describe('command handler', () => {
  let t: TestApp
  let user: SignedUpUser
  let service: CreatedApiKey
  let walletId: string
  let otherWalletId: string

  beforeAll(async () => {
    t = await createTestApp({ env: { COMMAND_SENDERS: `${SENDER},other-service` } })
    ;[user, service] = await Promise.all([signUp(t), createApiKey(t, ['service'])])
    const other = await signUp(t)
    walletId = (await openWallet(t, user.headers, 'USD')).id
    otherWalletId = (await openWallet(t, other.headers, 'USD')).id
  })
  afterAll(() => t.close())

  it('applies a deposit, writes operation.succeeded with the transaction, and records the operation', async () => {
    const operationId = randomUUID()
    const before = await storedBalance(t, walletId)
    const outcome = await t.container.commandHandler(
      command('deposit.requested', { operationId, walletId, amount: '12.34', reference: 'psp-1' }),
    )
    expect(outcome).toEqual({ kind: 'done' })
    expect(await storedBalance(t, walletId)).toBe(before + 1234n)
    const [event] = await operationEvents(t, 'operation.succeeded', operationId)
    expect(event?.payload).toMatchObject({ operationId, type: 'deposit', status: 'succeeded' })
    const transactionId = (event!.payload as { transactionId: string }).transactionId
    const posted = await t.database.db
      .selectFrom('transactions')
      .select(['id', 'reference'])
      .where('id', '=', transactionId)
      .executeTakeFirstOrThrow()
    expect(posted.reference).toBe('psp-1')
    const operation = await t.database.db
      .selectFrom('operations')
      .selectAll()
      .where('sender', '=', SENDER)
      .where('operation_key', '=', operationId)
      .executeTakeFirstOrThrow()
    expect(operation).toMatchObject({ status: 'succeeded', transaction_id: transactionId, type: 'deposit' })
  })

  it('moves money once for the same operationId delivered twice, and answers done both times', async () => {
    const operationId = `op-${randomUUID()}`
    const before = await storedBalance(t, walletId)
    const body = { operationId, walletId, amount: '5.00' }
    const [first, second] = await Promise.all([
      t.container.commandHandler(command('deposit.requested', body)),
      t.container.commandHandler(command('deposit.requested', body, { attempt: 1 })),
    ])
    // Two deliveries at once: one applies, the other waits for it (retry) or replays (done).
    expect([first.kind, second.kind]).toContain('done')
    const third = await t.container.commandHandler(command('deposit.requested', body, { attempt: 2 }))
    expect(third).toEqual({ kind: 'done' })
    expect(await storedBalance(t, walletId)).toBe(before + 500n)
    expect(await operationEvents(t, 'operation.succeeded', operationId)).toHaveLength(1)
    await expectLedgerConsistent(t.database.db)
  })

  it('scopes operationIds to the sender: another service may use the same one', async () => {
    const operationId = `shared-${randomUUID()}`
    const before = await storedBalance(t, walletId)
    const body = { operationId, walletId, amount: '1.00' }
    expect(await t.container.commandHandler(command('deposit.requested', body))).toEqual({ kind: 'done' })
    expect(
      await t.container.commandHandler(command('deposit.requested', body, { sender: 'other-service' })),
    ).toEqual({ kind: 'done' })
    expect(await storedBalance(t, walletId)).toBe(before + 200n)
  })

  it('dead-letters the same operationId with another body, moving nothing', async () => {
    const operationId = `reuse-${randomUUID()}`
    await t.container.commandHandler(command('deposit.requested', { operationId, walletId, amount: '1.00' }))
    const before = await storedBalance(t, walletId)
    const outcome = await t.container.commandHandler(
      command('deposit.requested', { operationId, walletId, amount: '9.00' }),
    )
    expect(outcome).toMatchObject({ kind: 'dead', reason: expect.stringMatching(/^operation_id_reused/) })
    expect(await storedBalance(t, walletId)).toBe(before)
  })

  it('applies a transfer and a withdrawal as the service principal', async () => {
    await fund(t, service.headers, walletId, '50.00')
    const before = await Promise.all([storedBalance(t, walletId), storedBalance(t, otherWalletId)])
    const transferId = randomUUID()
    expect(
      await t.container.commandHandler(
        command('transfer.requested', {
          operationId: transferId,
          fromWalletId: walletId,
          toWalletId: otherWalletId,
          amount: '3.00',
        }),
      ),
    ).toEqual({ kind: 'done' })
    expect(
      await t.container.commandHandler(
        command('withdrawal.requested', {
          operationId: randomUUID(),
          walletId: otherWalletId,
          amount: '1.00',
        }),
      ),
    ).toEqual({ kind: 'done' })
    expect(await storedBalance(t, walletId)).toBe(before[0] - 300n)
    expect(await storedBalance(t, otherWalletId)).toBe(before[1] + 200n)
    expect(await operationEvents(t, 'operation.succeeded', transferId)).toHaveLength(1)
  })

  it('dead-letters a business refusal with its problem code and writes operation.failed once', async () => {
    const operationId = randomUUID()
    const before = await storedBalance(t, walletId)
    const body = { operationId, walletId, amount: '1000000.00' }
    const first = await t.container.commandHandler(command('withdrawal.requested', body))
    expect(first).toEqual({ kind: 'dead', reason: 'insufficient_funds' })
    // Redelivered (the dead letter re-queued by an operator): the same answer, no second event.
    expect(await t.container.commandHandler(command('withdrawal.requested', body, { attempt: 1 }))).toEqual({
      kind: 'dead',
      reason: 'insufficient_funds',
    })
    expect(await storedBalance(t, walletId)).toBe(before)
    const events = await operationEvents(t, 'operation.failed', operationId)
    expect(events).toHaveLength(1)
    expect(events[0]!.payload).toMatchObject({
      operationId,
      type: 'withdrawal',
      status: 'failed',
      problem: { code: 'insufficient_funds', status: 422 },
    })
  })

  it('dead-letters an unknown wallet and an amount with too many decimals', async () => {
    const unknown = await t.container.commandHandler(
      command('deposit.requested', { operationId: randomUUID(), walletId: randomUUID(), amount: '1.00' }),
    )
    expect(unknown).toEqual({ kind: 'dead', reason: 'wallet_not_found' })
    const decimals = await t.container.commandHandler(
      command('deposit.requested', { operationId: randomUUID(), walletId, amount: '1.001' }),
    )
    expect(decimals).toEqual({ kind: 'dead', reason: 'invalid_amount' })
  })

  it('dead-letters a frozen wallet as wallet_frozen', async () => {
    const admin = await signUp(t, { roles: ['admin'] })
    const frozen = await openWallet(t, admin.headers, 'EUR', randomUUID())
    const freeze = await t.app.inject({
      method: 'POST',
      url: `/api/v1/wallets/${frozen.id}/freeze`,
      headers: admin.headers,
    })
    expect(freeze.statusCode, freeze.body).toBe(200)
    const outcome = await t.container.commandHandler(
      command('deposit.requested', { operationId: randomUUID(), walletId: frozen.id, amount: '1.00' }),
    )
    expect(outcome).toEqual({ kind: 'dead', reason: 'wallet_frozen' })
  })

  it('dead-letters poison: not JSON, a body off the schema, an unknown type, an unknown or missing sender', async () => {
    const before = await storedBalance(t, walletId)
    const cases: [CommandEnvelope, RegExp][] = [
      [command('deposit.requested', Buffer.from('{not json')), /^invalid_json/],
      [command('deposit.requested', Buffer.from([0xff, 0xfe, 0x00])), /^invalid_json/],
      [
        command('deposit.requested', { operationId: randomUUID(), walletId, amount: 5 }),
        /^invalid_body: \/amount/,
      ],
      [command('deposit.requested', { walletId, amount: '1.00' }), /^invalid_body/],
      [
        command('deposit.requested', { operationId: randomUUID(), walletId, amount: '1.00', extra: true }),
        /^invalid_body/,
      ],
      [
        command('refund.requested', { operationId: randomUUID(), walletId, amount: '1.00' }),
        /^unknown_command_type/,
      ],
      // The bounds of an HTTP body hold for commands too.
      [
        command('deposit.requested', {
          operationId: randomUUID(),
          walletId,
          amount: '1.00',
          metadata: { note: 'r\u0000' },
        }),
        /^forbidden_character: body\/metadata\/note/,
      ],
      [
        command('deposit.requested', {
          operationId: randomUUID(),
          walletId,
          amount: '1.00',
          metadata: {
            note: 'x'.repeat(900),
            big: 'y'.repeat(900),
            more: Array.from({ length: 20 }, () => 'z'.repeat(900)),
          },
        }),
        /^limit_exceeded: /,
      ],
      [
        command(
          'deposit.requested',
          { operationId: randomUUID(), walletId, amount: '1.00' },
          { sender: 'stranger' },
        ),
        /^unknown_sender: stranger/,
      ],
      [
        command(
          'deposit.requested',
          { operationId: randomUUID(), walletId, amount: '1.00' },
          { sender: null },
        ),
        /^unknown_sender: none/,
      ],
      // Coffer's own sender applies only operations that POST /operations recorded.
      [
        command(
          'deposit.requested',
          { operationId: randomUUID(), walletId, amount: '1.00' },
          { sender: 'coffer' },
        ),
        /^unknown_operation/,
      ],
    ]
    for (const [envelope, reason] of cases) {
      const outcome = await t.container.commandHandler(envelope)
      expect(outcome.kind, envelope.body.toString()).toBe('dead')
      expect(outcome.kind === 'dead' && outcome.reason, envelope.body.toString()).toMatch(reason)
    }
    expect(await storedBalance(t, walletId)).toBe(before)
  })
})

describe('transient failures', () => {
  it('classifies outages, serialization failures, deadlocks and timeouts as retries, refusals not', () => {
    const withCode = (code: string) => Object.assign(new Error(code), { code })
    for (const code of ['08006', '57P01', '40001', '40P01', '55P03', '57014']) {
      expect(isTransient(withCode(code)), code).toBe(true)
    }
    for (const code of ['23505', '42P01', '22021']) expect(isTransient(withCode(code)), code).toBe(false)
    expect(isTransient(new Error('boom'))).toBe(false)
  })

  // A lock held by another session past the statement timeout needs PostgreSQL (PGlite has one
  // connection): the first delivery is cancelled (57014) and is retried, the redelivery applies it.
  itOnServices('retries a command that met a lock timeout, then applies it once', async () => {
    const t = await createTestApp({ env: { COMMAND_SENDERS: SENDER } })
    const blocker = new pg.Client({ connectionString: t.database.url! })
    try {
      const user = await signUp(t)
      const walletId = (await openWallet(t, user.headers, 'USD')).id
      const body = { operationId: randomUUID(), walletId, amount: '2.00' }
      await blocker.connect()
      await blocker.query('begin')
      await blocker.query('select id from accounts where id = $1 for update', [walletId])
      const delivery = t.container.commandHandler(command('deposit.requested', body))
      // The posting waits for the wallet's lock; cancelled as a lock or statement timeout would.
      await eventually(async () => {
        const { rows } = await blocker.query<{ cancelled: boolean }>(
          `select pg_cancel_backend(pid) as cancelled from pg_stat_activity
           where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
        )
        return rows.some((row) => row.cancelled)
      }, 'the posting waiting on the lock')
      const first = await delivery
      expect(first).toMatchObject({ kind: 'retry' })
      expect(await storedBalance(t, walletId)).toBe(0n)
      await blocker.query('commit')
      expect(await t.container.commandHandler(command('deposit.requested', body, { attempt: 1 }))).toEqual({
        kind: 'done',
      })
      expect(await t.container.commandHandler(command('deposit.requested', body, { attempt: 2 }))).toEqual({
        kind: 'done',
      })
      expect(await storedBalance(t, walletId)).toBe(200n)
      await expectLedgerConsistent(t.database.db)
    } finally {
      await blocker.end()
      await t.close()
    }
  })
})

describe('commands through the bus', () => {
  let t: TestApp
  let user: SignedUpUser
  let walletId: string
  let consumer: Subscription

  beforeAll(async () => {
    t = await createTestApp({ env: { COMMAND_SENDERS: SENDER } })
    user = await signUp(t)
    walletId = (await openWallet(t, user.headers, 'USD')).id
    consumer = await startCommandConsumer(t.container)
  })
  afterAll(async () => {
    await consumer.close()
    await t.close()
  })

  it('applies a sent command once even when sent twice, and a poison message blocks nothing', async () => {
    const operationId = randomUUID()
    const body = { operationId, walletId, amount: '7.00' }
    await t.container.bus.sendCommand('deposit.requested', Buffer.from('poison'), { sender: SENDER })
    await t.container.bus.sendCommand('deposit.requested', body, { sender: SENDER })
    await t.container.bus.sendCommand('deposit.requested', body, { sender: SENDER })
    const second = randomUUID()
    await t.container.bus.sendCommand(
      'deposit.requested',
      { ...body, operationId: second },
      { sender: SENDER },
    )
    await eventually(async () => (await storedBalance(t, walletId)) === 1400n, 'both deposits applied')
    await eventually(
      async () => (await operationEvents(t, 'operation.succeeded', second)).length === 1,
      'operation.succeeded of the second',
    )
    expect(await operationEvents(t, 'operation.succeeded', operationId)).toHaveLength(1)
    const bus = t.container.bus
    if (bus instanceof InProcessBus) {
      await eventually(async () => bus.deadLetters().length === 1, 'the poison dead-lettered')
      expect(bus.deadLetters()[0]!.reason).toMatch(/^invalid_json/)
    }
  })

  // The bus's own retry (RabbitMQ's delay queue): needs PostgreSQL to cancel the waiting posting.
  itOnServices('redelivers a command that failed transiently, and applies it once', async () => {
    const blocker = new pg.Client({ connectionString: t.database.url! })
    try {
      const operationId = randomUUID()
      const before = await storedBalance(t, walletId)
      await blocker.connect()
      await blocker.query('begin')
      await blocker.query('select id from accounts where id = $1 for update', [walletId])
      await t.container.bus.sendCommand(
        'deposit.requested',
        { operationId, walletId, amount: '3.00' },
        { sender: SENDER },
      )
      await eventually(async () => {
        const { rows } = await blocker.query<{ cancelled: boolean }>(
          `select pg_cancel_backend(pid) as cancelled from pg_stat_activity
           where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
        )
        return rows.some((row) => row.cancelled)
      }, 'the posting waiting on the lock')
      await blocker.query('commit')
      await eventually(
        async () => (await operationEvents(t, 'operation.succeeded', operationId)).length === 1,
        'the redelivered command applied',
        15_000,
      )
      expect(await storedBalance(t, walletId)).toBe(before + 300n)
    } finally {
      await blocker.end()
    }
  })

  // The in-process bus has no reply (yet); over RabbitMQ the answer goes to reply_to.
  itOnServices('answers to replyTo with the correlation id, success and refusal alike', async () => {
    const probe = new Connection({ url: t.container.config.AMQP_URL!, retryHigh: 1000 })
    try {
      const { queue } = await probe.queueDeclare({ exclusive: true })
      const succeeded = randomUUID()
      const failed = randomUUID()
      await t.container.bus.sendCommand(
        'deposit.requested',
        { operationId: succeeded, walletId, amount: '1.00' },
        { sender: SENDER, replyTo: queue, correlationId: 'corr-1' },
      )
      await t.container.bus.sendCommand(
        'withdrawal.requested',
        { operationId: failed, walletId, amount: '99999.00' },
        { sender: SENDER, replyTo: queue, correlationId: 'corr-2' },
      )
      const replies: { correlationId?: string; body: unknown }[] = []
      await eventually(async () => {
        const message = await probe.basicGet({ queue, noAck: true })
        if (message) replies.push({ correlationId: message.correlationId, body: message.body })
        return replies.length === 2
      }, 'two replies')
      const byId = new Map(replies.map((reply) => [reply.correlationId, reply.body]))
      expect(byId.get('corr-1')).toMatchObject({ operationId: succeeded, status: 'succeeded' })
      expect(byId.get('corr-2')).toMatchObject({
        operationId: failed,
        status: 'failed',
        problem: { code: 'insufficient_funds' },
      })
    } finally {
      await probe.close()
    }
  })

  it('dead-letters a refusal with its code and emits operation.failed', async () => {
    const operationId = randomUUID()
    const before = await storedBalance(t, walletId)
    await t.container.bus.sendCommand(
      'withdrawal.requested',
      { operationId, walletId, amount: '999.00' },
      { sender: SENDER },
    )
    await eventually(
      async () => (await operationEvents(t, 'operation.failed', operationId)).length === 1,
      'operation.failed',
    )
    const bus = t.container.bus
    if (bus instanceof InProcessBus) {
      await eventually(
        async () => bus.deadLetters().some((letter) => letter.reason === 'insufficient_funds'),
        'the refusal dead-lettered',
      )
    }
    expect(await storedBalance(t, walletId)).toBe(before)
  })
})
