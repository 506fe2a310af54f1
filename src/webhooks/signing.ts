import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'

/** A fresh signing secret in the Standard Webhooks form receivers' libraries accept as is. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

/**
 * The `webhook-signature` value: one `v1,<base64 HMAC-SHA256>` per secret, space-separated, so a
 * receiver still holding the previous secret during a rotation's grace period keeps verifying.
 */
export function signatureHeader(secrets: string[], messageId: string, timestamp: Date, body: string): string {
  if (secrets.length === 0) throw new RangeError('a webhook needs at least one signing secret')
  return secrets.map((secret) => new Webhook(secret).sign(messageId, timestamp, body)).join(' ')
}
