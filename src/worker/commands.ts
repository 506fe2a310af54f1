import type { Container } from '../container.js'
import type { CommandHandler, Subscription } from '../events/bus.js'
import { countCommand } from '../metrics/events.js'
import { COMMAND_TYPES } from '../operations/operations.schemas.js'

/**
 * Starts consuming `coffer.commands` (deposits, withdrawals and transfers sent by services, and
 * the operations of POST /api/v1/operations) with the container's command handler. Each worker
 * process consumes; the broker spreads the commands, at most COMMAND_PREFETCH unacknowledged each.
 */
export function startCommandConsumer(container: Container): Promise<Subscription> {
  return container.bus.consumeCommands(
    countedCommands(container.commandHandler, container.config.COMMAND_MAX_ATTEMPTS),
    { prefetch: container.config.COMMAND_PREFETCH },
  )
}

/**
 * The handler with each delivery's outcome counted (coffer_commands_*). A throw is a retry, as
 * both buses treat it; a retry on the last allowed delivery is the bus giving up: a dead letter.
 */
export function countedCommands(handler: CommandHandler, maxAttempts: number): CommandHandler {
  return async (command) => {
    const type = Object.hasOwn(COMMAND_TYPES, command.type) ? command.type : 'unknown'
    const lastAttempt = command.attempt + 1 >= maxAttempts
    try {
      const outcome = await handler(command)
      countCommand(type, outcome, lastAttempt)
      return outcome
    } catch (error) {
      countCommand(type, { kind: 'retry' }, lastAttempt)
      throw error
    }
  }
}
