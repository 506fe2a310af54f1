import type { TSchema } from 'typebox'
import { EVENT_CONTRACTS, EVENT_TYPES, envelopeSchema } from './contracts.js'

export const EVENTS_EXCHANGE = 'coffer.events'
export const COMMANDS_EXCHANGE = 'coffer.commands'
export const COMMANDS_QUEUE = 'coffer.commands'
export const COMMANDS_DEAD_QUEUE = 'coffer.commands.dead'

const AMQP_BINDING_VERSION = '0.3.0'

/** The AMQP properties every event carries; AsyncAPI calls them headers. */
const EventHeaders = {
  type: 'object',
  description:
    'AMQP message properties of every event: message_id (the event id), type (the event type, also the routing key), content_type application/json, timestamp (occurredAt in seconds since the epoch), delivery_mode 2 (persistent); and the application headers x-coffer-version, x-coffer-aggregate-type, x-coffer-aggregate-id',
  properties: {
    message_id: { type: 'string', format: 'uuid', description: 'The event id: de-duplicate on it' },
    type: { type: 'string', description: 'The event type' },
    content_type: { type: 'string', const: 'application/json' },
    timestamp: { type: 'integer', description: 'When the change committed, seconds since the epoch' },
    'x-coffer-version': { type: 'integer', description: 'The version of the payload schema' },
    'x-coffer-aggregate-type': { type: 'string', examples: ['wallet', 'transaction', 'hold'] },
    'x-coffer-aggregate-id': { type: 'string' },
  },
  required: ['message_id', 'type', 'content_type', 'timestamp'],
} as const

const CommandHeaders = {
  type: 'object',
  description:
    'AMQP message properties of a command: type or routing key (the command type), content_type application/json, user_id (the sending service, checked by the broker), and optionally reply_to and correlation_id for an answer',
  properties: {
    content_type: { type: 'string', const: 'application/json' },
    user_id: { type: 'string', description: 'The sending service, as the broker authenticated it' },
    reply_to: { type: 'string', description: 'Queue that gets the outcome' },
    correlation_id: { type: 'string', description: 'Copied onto the answer' },
  },
  required: ['content_type'],
} as const

const DeadLetterHeaders = {
  type: 'object',
  properties: {
    'x-coffer-reason': { type: 'string', description: 'Why the command was given up' },
    'x-coffer-attempts': { type: 'integer', description: 'Deliveries it had' },
  },
  required: ['x-coffer-reason'],
} as const

function operationName(type: string, prefix: string): string {
  return prefix + type.replace(/(^|[.-])([a-z])/g, (_, _sep: string, letter: string) => letter.toUpperCase())
}

/**
 * The AsyncAPI 3.0 document of Coffer's events and commands, built from the contracts, so it
 * cannot drift from what the relay publishes. `commands` are the bodies of the inbound command
 * types (routing key = type), given by the module that applies them.
 */
export function asyncApiDocument(commands: Record<string, TSchema>): Record<string, unknown> {
  const eventMessages = Object.fromEntries(
    EVENT_TYPES.map((type) => [
      type,
      {
        name: type,
        title: type,
        summary: EVENT_CONTRACTS[type].summary,
        contentType: 'application/json',
        headers: EventHeaders,
        payload: envelopeSchema(type),
        bindings: { amqp: { messageType: type, bindingVersion: AMQP_BINDING_VERSION } },
      },
    ]),
  )
  const commandMessages = Object.fromEntries(
    Object.entries(commands).map(([type, payload]) => [
      type,
      {
        name: type,
        title: type,
        summary: `Command ${type}: applied once per operationId (scoped to the sender), answered with operation.succeeded or operation.failed`,
        contentType: 'application/json',
        headers: CommandHeaders,
        payload,
        bindings: { amqp: { messageType: type, bindingVersion: AMQP_BINDING_VERSION } },
      },
    ]),
  )
  const refs = (names: string[]) =>
    Object.fromEntries(names.map((name) => [name, { $ref: `#/components/messages/${name}` }]))

  const operations: Record<string, unknown> = {}
  for (const type of EVENT_TYPES) {
    operations[operationName(type, 'publish')] = {
      action: 'send',
      title: `Publish ${type}`,
      summary: `Routing key ${type} on the topic exchange ${EVENTS_EXCHANGE}`,
      channel: { $ref: '#/channels/events' },
      messages: [{ $ref: `#/channels/events/messages/${type}` }],
      bindings: {
        amqp: { cc: [type], deliveryMode: 2, timestamp: true, bindingVersion: AMQP_BINDING_VERSION },
      },
    }
  }
  const commandTypes = Object.keys(commands)
  if (commandTypes.length > 0) {
    operations.receiveCommands = {
      action: 'receive',
      title: 'Apply commands',
      summary:
        'Acked after the database transaction committed; transient failures retried with backoff, permanent ones dead-lettered',
      channel: { $ref: '#/channels/commands' },
      messages: commandTypes.map((type) => ({ $ref: `#/channels/commands/messages/${type}` })),
      bindings: { amqp: { ack: true, bindingVersion: AMQP_BINDING_VERSION } },
    }
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Coffer events and commands',
      version: '1',
      description:
        'Events published by the outbox relay (at least once, in commit order per aggregate: de-duplicate on the id) and commands Coffer consumes. See docs/events.md.',
    },
    defaultContentType: 'application/json',
    channels: {
      events: {
        address: EVENTS_EXCHANGE,
        title: 'Events',
        description: `Durable topic exchange ${EVENTS_EXCHANGE}; the routing key is the event type (bind e.g. transaction.* or #)`,
        messages: refs(EVENT_TYPES),
        bindings: {
          amqp: {
            is: 'routingKey',
            exchange: { name: EVENTS_EXCHANGE, type: 'topic', durable: true, autoDelete: false },
            bindingVersion: AMQP_BINDING_VERSION,
          },
        },
      },
      commands: {
        address: COMMANDS_QUEUE,
        title: 'Commands',
        description: `Quorum queue ${COMMANDS_QUEUE}, bound to the exchange ${COMMANDS_EXCHANGE} by command type`,
        messages: refs(commandTypes),
        bindings: {
          amqp: {
            is: 'queue',
            queue: { name: COMMANDS_QUEUE, durable: true, exclusive: false, autoDelete: false },
            bindingVersion: AMQP_BINDING_VERSION,
          },
        },
      },
      deadCommands: {
        address: COMMANDS_DEAD_QUEUE,
        title: 'Dead commands',
        description: 'Commands given up (permanent failure or too many attempts), with the reason in headers',
        messages: Object.fromEntries(
          commandTypes.map((type) => [`${type}.dead`, { $ref: `#/components/messages/${type}.dead` }]),
        ),
        bindings: {
          amqp: {
            is: 'queue',
            queue: { name: COMMANDS_DEAD_QUEUE, durable: true, exclusive: false, autoDelete: false },
            bindingVersion: AMQP_BINDING_VERSION,
          },
        },
      },
    },
    operations,
    components: {
      messages: {
        ...eventMessages,
        ...commandMessages,
        ...Object.fromEntries(
          commandTypes.map((type) => [
            `${type}.dead`,
            {
              name: `${type}.dead`,
              title: `${type} (dead letter)`,
              summary: 'The command as it was received, with why it was given up',
              headers: DeadLetterHeaders,
              payload: {},
            },
          ]),
        ),
      },
    },
  }
}
