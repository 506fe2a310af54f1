import type { Container } from '../container.js'
import type { Subscription } from '../events/bus.js'

/**
 * Starts consuming `coffer.commands` (deposits, withdrawals and transfers sent by services, and
 * the operations of POST /api/v1/operations) with the container's command handler. Each worker
 * process consumes; the broker spreads the commands, at most COMMAND_PREFETCH unacknowledged each.
 */
export function startCommandConsumer(container: Container): Promise<Subscription> {
  return container.bus.consumeCommands(container.commandHandler, {
    prefetch: container.config.COMMAND_PREFETCH,
  })
}
