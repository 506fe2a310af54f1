import { readFile } from 'node:fs/promises'
import { Parser } from '@asyncapi/parser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EVENT_TYPES } from '../../src/events/contracts.js'
import { createTestApp, type TestApp } from '../app.js'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

describe('/asyncapi.json', () => {
  it('is public, and a valid AsyncAPI 3.0 document by the official parser (no errors)', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/asyncapi.json' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^application\/json/)
    const document = response.json()
    expect(document.asyncapi).toBe('3.0.0')
    const { diagnostics } = await new Parser().parse(response.body)
    // Severity 0 is an error; warnings and hints (e.g. "add a license") do not make it invalid.
    expect(diagnostics.filter((d) => d.severity === 0)).toEqual([])
  })

  it('names every event contract on coffer.events with its routing key, and the commands on coffer.commands', async () => {
    const document = (await t.app.inject({ method: 'GET', url: '/asyncapi.json' })).json()
    const { document: parsed } = await new Parser().parse(JSON.stringify(document))
    expect(parsed).toBeDefined()
    const events = parsed!.channels().get('events')!
    expect(events.address()).toBe('coffer.events')
    expect(
      events
        .messages()
        .all()
        .map((m) => m.id())
        .sort(),
    ).toEqual([...EVENT_TYPES].sort())
    for (const type of EVENT_TYPES) {
      const operation = Object.values(document.operations as Record<string, Record<string, unknown>>).find(
        (o) => (o.messages as { $ref: string }[])[0]?.$ref === `#/channels/events/messages/${type}`,
      )
      expect(operation, type).toMatchObject({
        action: 'send',
        bindings: { amqp: { cc: [type], deliveryMode: 2 } },
      })
      const message = document.components.messages[type]
      expect(message.headers.required).toEqual(['message_id', 'type', 'content_type', 'timestamp'])
      expect(message.payload.properties.type.const).toBe(type)
    }
    const commands = parsed!.channels().get('commands')!
    expect(commands.address()).toBe('coffer.commands')
    expect(
      commands
        .messages()
        .all()
        .map((m) => m.id())
        .sort(),
    ).toEqual(['deposit.requested', 'points.earn.requested', 'transfer.requested', 'withdrawal.requested'])
    expect(document.components.messages['deposit.requested'].payload.required).toContain('operationId')
  })
})

describe('docs/events.md', () => {
  it('has a row for every event type, and for no type without a contract', async () => {
    const markdown = await readFile('docs/events.md', 'utf8')
    const section = markdown.slice(markdown.indexOf('## Event types'), markdown.indexOf('## On RabbitMQ'))
    const documented = [...section.matchAll(/^\| `([a-z_.]+)` \|/gm)].map((m) => m[1])
    expect([...documented].sort()).toEqual([...EVENT_TYPES].sort())
  })
})
