/**
 * What the dispatcher hands the HTTP sender and what it gets back. The sender signs, checks the
 * destination and makes one attempt; retries, order and the delivery log are the dispatcher's.
 */

/** One attempt at delivering one message to one subscription's URL. */
export interface WebhookAttempt {
  url: string
  /** `webhook-id`: the same on every attempt and replay of one message to one subscription. */
  messageId: string
  /** `webhook-timestamp` (whole seconds) and the signed instant; the attempt's own time. */
  timestamp: Date
  /** The JSON body, exactly as signed and sent. */
  body: string
  /**
   * Signing secrets in `whsec_<base64>` form: the current one first, then the previous one while
   * its grace period lasts. `webhook-signature` carries one `v1,<sig>` per secret.
   */
  secrets: string[]
}

export interface WebhookAttemptResult {
  /** A 2xx status was received. */
  ok: boolean
  /** The response status, null when none arrived (refused address, DNS, connect, timeout). */
  statusCode: number | null
  /** From the start of the attempt to the end of the (bounded) response body, or the failure. */
  latencyMs: number
  /** Why it failed, in words an operator can act on ("timed out after 10000 ms", "address 10.0.0.5 is private"); null on success. */
  error: string | null
  /** The first bytes of the response body (at most MAX_RESPONSE_BYTES), as text. */
  responseBody: string
}

export interface WebhookSender {
  /** Never throws for anything the destination does; resolves with the result. */
  send(attempt: WebhookAttempt): Promise<WebhookAttemptResult>
  /** Closes kept-alive connections. */
  close(): Promise<void>
}

/** Which destinations a sender (and the subscription API) accepts. */
export interface DestinationPolicy {
  /** WEBHOOK_ALLOW_LOCALHOST: http://localhost and http://127.0.0.1 allowed, and loopback for them. */
  allowLocalhost: boolean
}
