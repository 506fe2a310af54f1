import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import { newWebhookSecret, signatureHeader } from './signing.js'

function headersFor(signature: string, messageId: string, timestamp: Date): Record<string, string> {
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': signature,
  }
}

describe('webhook signing', () => {
  const body = JSON.stringify({ type: 'transaction.posted', data: { amount: '10.50' } })
  const messageId = 'msg_0192f2d4-0000-7000-8000-000000000001'

  it('makes whsec_ secrets of 32 random bytes', () => {
    const secret = newWebhookSecret()
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32)
    expect(newWebhookSecret()).not.toBe(secret)
  })

  it('signs so that the library verifies with the current and with the previous secret', () => {
    const current = newWebhookSecret()
    const previous = newWebhookSecret()
    const now = new Date()
    const signature = signatureHeader([current, previous], messageId, now, body)
    expect(signature.split(' ')).toHaveLength(2)
    for (const part of signature.split(' ')) expect(part).toMatch(/^v1,[A-Za-z0-9+/]+=*$/)
    const headers = headersFor(signature, messageId, now)
    expect(new Webhook(current).verify(body, headers)).toEqual(JSON.parse(body))
    expect(new Webhook(previous).verify(body, headers)).toEqual(JSON.parse(body))
  })

  it('does not verify with another secret, another body, id or time', () => {
    const secret = newWebhookSecret()
    const now = new Date()
    const signature = signatureHeader([secret], messageId, now, body)
    expect(() => new Webhook(newWebhookSecret()).verify(body, headersFor(signature, messageId, now))).toThrow(
      /No matching signature/,
    )
    expect(() => new Webhook(secret).verify(`${body} `, headersFor(signature, messageId, now))).toThrow(
      /No matching signature/,
    )
    expect(() => new Webhook(secret).verify(body, headersFor(signature, `${messageId}x`, now))).toThrow(
      /No matching signature/,
    )
    const later = new Date(now.getTime() + 1000)
    expect(() => new Webhook(secret).verify(body, headersFor(signature, messageId, later))).toThrow(
      /No matching signature/,
    )
  })

  it('refuses to sign with no secret at all', () => {
    expect(() => signatureHeader([], messageId, new Date(), body)).toThrow(RangeError)
  })
})
