import type { Container } from '../container.js'
import { WebhookDispatcher } from '../webhooks/dispatcher.js'
import { FAN_OUT_CONCURRENCY, WebhookFanOut } from '../webhooks/fan-out.js'
import type { WebhookSender } from '../webhooks/sender-types.js'

export interface WebhooksOptions {
  /** A sender other than the container's (tests: another destination policy or resolver). */
  sender?: WebhookSender
  /** Tests: the lease length, to see a "dead" worker's lease taken over without waiting a minute. */
  leaseMs?: number
  workerId?: string
}

export interface RunningWebhooks {
  dispatcher: WebhookDispatcher
  close(): Promise<void>
}

/**
 * The worker's part of webhooks: the fan-out subscribed to every event (under one durable name,
 * so with several workers one consumes at a time and order is kept) and the dispatcher.
 */
export async function startWebhooks(
  container: Container,
  options: WebhooksOptions = {},
): Promise<RunningWebhooks> {
  const { config, logger, database } = container
  const dispatcher = new WebhookDispatcher({
    db: database.db,
    sender: options.sender ?? container.webhookSender,
    logger,
    retryDelaysMs: config.WEBHOOK_RETRY_DELAYS_MS.split(',').map(Number),
    disableAfterFailures: config.WEBHOOK_DISABLE_AFTER_FAILURES,
    concurrency: config.WEBHOOK_CONCURRENCY,
    ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
    ...(options.workerId !== undefined ? { workerId: options.workerId } : {}),
  })
  const fanOut = new WebhookFanOut({
    db: database.db,
    parties: container.webhookParties,
    logger,
    onDeliveries: () => dispatcher.wake(),
  })
  await fanOut.reload()
  const subscription = await container.bus.subscribe('webhooks', ['#'], fanOut.handle, {
    concurrency: FAN_OUT_CONCURRENCY,
  })
  const stopListening = container.webhooks.onNewWork(() => dispatcher.wake())
  dispatcher.start()
  return {
    dispatcher,
    close: async () => {
      stopListening()
      fanOut.close()
      await subscription.close()
      await dispatcher.stop()
    },
  }
}
