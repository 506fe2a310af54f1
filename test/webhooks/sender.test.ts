import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import { afterEach, describe, expect, it } from 'vitest'
import { createWebhookSender, MAX_RESPONSE_BYTES, type ResolvedAddress } from '../../src/webhooks/sender.js'
import type { WebhookAttempt, WebhookSender } from '../../src/webhooks/sender-types.js'
import { newWebhookSecret } from '../../src/webhooks/signing.js'
import { eventually } from '../wallets/fixtures.js'

interface Receiver {
  port: number
  url: string
  /** TCP connections accepted, whether or not a request followed. */
  connections: number
  requests: { headers: IncomingMessage['headers']; body: string }[]
  server: Server
}

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function receiver(
  handle: (request: IncomingMessage, response: ServerResponse, body: string) => void,
): Promise<Receiver> {
  const server = createServer()
  const state: Receiver = { port: 0, url: '', connections: 0, requests: [], server }
  server.on('connection', () => {
    state.connections += 1
  })
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      state.requests.push({ headers: request.headers, body })
      handle(request, response, body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.port = (server.address() as AddressInfo).port
  state.url = `http://127.0.0.1:${state.port}/hooks/coffer`
  cleanups.push(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return state
}

function sender(options: Parameters<typeof createWebhookSender>[0]): WebhookSender {
  const created = createWebhookSender(options)
  cleanups.push(() => created.close())
  return created
}

const local = { allowLocalhost: true }
const strict = { allowLocalhost: false }
const secret = newWebhookSecret()

function attempt(url: string, overrides: Partial<WebhookAttempt> = {}): WebhookAttempt {
  return {
    url,
    messageId: 'msg_01J0000000000000000000000A',
    timestamp: new Date(),
    body: JSON.stringify({ type: 'transaction.posted', data: { amount: '12.34', memo: 'café' } }),
    secrets: [secret],
    ...overrides,
  }
}

describe('webhook sender against a real receiver', () => {
  it('posts the body with Standard Webhooks headers the library verifies, 200 is ok', async () => {
    const previous = newWebhookSecret()
    const hook = await receiver((_request, response) => response.writeHead(200).end('thanks'))
    const sent = attempt(hook.url, { secrets: [secret, previous] })
    const result = await sender({ policy: local, timeoutMs: 5000 }).send(sent)

    expect(result).toMatchObject({ ok: true, statusCode: 200, error: null, responseBody: 'thanks' })
    expect(Number.isInteger(result.latencyMs)).toBe(true)
    expect(result.latencyMs).toBeGreaterThanOrEqual(0)
    expect(hook.requests).toHaveLength(1)
    const [{ headers, body }] = hook.requests as [Receiver['requests'][number]]
    expect(body).toBe(sent.body)
    expect(headers['content-type']).toBe('application/json')
    expect(headers['user-agent']).toBe('Coffer-Webhooks/1')
    expect(headers['webhook-id']).toBe(sent.messageId)
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(sent.timestamp.getTime() / 1000)))
    const signed = headers as Record<string, string>
    expect(new Webhook(secret).verify(body, signed)).toEqual(JSON.parse(sent.body))
    expect(new Webhook(previous).verify(body, signed)).toEqual(JSON.parse(sent.body))
    expect(() => new Webhook(newWebhookSecret()).verify(body, signed)).toThrow()
  })

  it('reports a 500 as not ok with its status and body', async () => {
    const hook = await receiver((_request, response) => response.writeHead(500).end('boom'))
    const result = await sender({ policy: local, timeoutMs: 5000 }).send(attempt(hook.url))
    expect(result).toMatchObject({ ok: false, statusCode: 500, error: 'HTTP 500', responseBody: 'boom' })
  })

  it('does not follow a redirect: a 302 is a failure and the Location is never asked', async () => {
    const elsewhere = await receiver((_request, response) => response.writeHead(200).end())
    const hook = await receiver((_request, response) =>
      response.writeHead(302, { location: elsewhere.url }).end(),
    )
    const result = await sender({ policy: local, timeoutMs: 5000 }).send(attempt(hook.url))
    expect(result.ok).toBe(false)
    expect(result.statusCode).toBe(302)
    expect(result.error).toBe(`redirect to ${elsewhere.url} not followed (HTTP 302)`)
    expect(hook.requests).toHaveLength(1)
    expect(elsewhere.connections).toBe(0)
    expect(elsewhere.requests).toHaveLength(0)
  })

  it('gives up on a receiver that never answers after about timeoutMs, and drops the connection', async () => {
    let closed = false
    const hook = await receiver(() => {})
    hook.server.on('connection', (socket) => socket.on('close', () => (closed = true)))
    const started = Date.now()
    const result = await sender({ policy: local, timeoutMs: 300 }).send(attempt(hook.url))
    const took = Date.now() - started
    expect(result).toMatchObject({ ok: false, statusCode: null, error: 'timed out after 300 ms' })
    expect(took).toBeGreaterThanOrEqual(290)
    expect(took).toBeLessThan(1500)
    expect(result.latencyMs).toBeGreaterThanOrEqual(290)
    await eventually(async () => closed, 'the receiver to see the abandoned connection closed', 3000)
  })

  it('reports the status of a response whose body was cut off', async () => {
    const hook = await receiver((request, response) => {
      response.writeHead(200, { 'content-length': '100' })
      response.write('partial', () => request.socket.destroy())
    })
    const result = await sender({ policy: local, timeoutMs: 5000 }).send(attempt(hook.url))
    expect(result).toMatchObject({ ok: true, statusCode: 200, responseBody: 'partial' })
    expect(result.latencyMs).toBeLessThan(2000)
  })

  it('bounds the time of a body that trickles in after the status', async () => {
    const hook = await receiver((_request, response) => {
      response.writeHead(200)
      response.write('a')
    })
    const started = Date.now()
    const result = await sender({ policy: local, timeoutMs: 300 }).send(attempt(hook.url))
    expect(Date.now() - started).toBeLessThan(1500)
    expect(result).toMatchObject({ ok: false, statusCode: 200, error: 'timed out after 300 ms' })
  })

  it('reads at most MAX_RESPONSE_BYTES of a body that never ends, then lets go', async () => {
    let serverSideClosed = false
    const hook = await receiver((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' })
      const chunk = Buffer.alloc(64 * 1024, 'x')
      const pump = () => {
        while (!response.destroyed && response.write(chunk)) {}
        if (!response.destroyed) response.once('drain', pump)
      }
      response.on('close', () => {
        serverSideClosed = true
      })
      pump()
    })
    const started = Date.now()
    const result = await sender({ policy: local, timeoutMs: 5000 }).send(attempt(hook.url))
    expect(Date.now() - started).toBeLessThan(2000)
    expect(result).toMatchObject({ ok: true, statusCode: 200, error: null })
    expect(result.responseBody.length).toBeLessThanOrEqual(MAX_RESPONSE_BYTES)
    expect(result.responseBody).toBe('x'.repeat(MAX_RESPONSE_BYTES))
    await eventually(async () => serverSideClosed, 'the receiver to see its stream cut off', 3000)
  })

  it('keeps no NUL or control characters of the response body', async () => {
    const hook = await receiver((_request, response) =>
      response.writeHead(400).end('bad\u0000input\u001b[31m\n'),
    )
    const result = await sender({ policy: local, timeoutMs: 5000 }).send(attempt(hook.url))
    expect(result.statusCode).toBe(400)
    expect(result.responseBody).toBe('bad\ufffdinput\ufffd[31m\n')
  })

  it('reports a refused connection as a result, not a throw', async () => {
    const gone = await receiver(() => {})
    const url = gone.url
    gone.server.closeAllConnections()
    await new Promise<void>((resolve) => gone.server.close(() => resolve()))
    const result = await sender({ policy: local, timeoutMs: 5000 }).send(attempt(url))
    expect(result).toMatchObject({ ok: false, statusCode: null, responseBody: '' })
    expect(result.error).toBe(`connection refused by 127.0.0.1:${gone.port}`)
  })

  it('reports a TLS failure (https to a plain-http port) as a result', async () => {
    const hook = await receiver((_request, response) => response.writeHead(200).end())
    const result = await sender({ policy: local, timeoutMs: 5000 }).send(
      attempt(`https://127.0.0.1:${hook.port}/hooks`),
    )
    expect(result.ok).toBe(false)
    expect(result.statusCode).toBeNull()
    expect(result.error).toMatch(/^TLS error with 127\.0\.0\.1:\d+: /)
  })

  it('reports a name that does not resolve', async () => {
    const result = await sender({
      policy: strict,
      timeoutMs: 5000,
      resolve: async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.test'), { code: 'ENOTFOUND' })
      },
    }).send(attempt('https://nowhere.test/hook'))
    expect(result).toMatchObject({ ok: false, statusCode: null, error: 'could not resolve nowhere.test' })
  })

  it('keeps connections alive between attempts and resolves once per connection', async () => {
    const hook = await receiver((_request, response) => response.writeHead(204).end())
    const lookups: string[] = []
    const send = sender({
      policy: local,
      timeoutMs: 5000,
      resolve: async (hostname) => {
        lookups.push(hostname)
        return [{ address: '127.0.0.1', family: 4 }]
      },
    })
    for (let i = 0; i < 5; i += 1) {
      expect((await send.send(attempt(`http://localhost:${hook.port}/hooks`))).ok).toBe(true)
    }
    expect(hook.requests).toHaveLength(5)
    expect(hook.connections).toBe(1)
    expect(lookups).toEqual(['localhost'])
  })

  it('retries once on a fresh connection when a kept-alive socket was closed under it', async () => {
    const served = new WeakSet<object>()
    const hook = await receiver((request, response) => {
      if (served.has(request.socket)) {
        // As a receiver whose idle timeout fired just as the socket was reused.
        request.socket.destroy()
        return
      }
      served.add(request.socket)
      response.writeHead(200).end()
    })
    const send = sender({ policy: local, timeoutMs: 5000 })
    expect((await send.send(attempt(hook.url))).ok).toBe(true)
    const second = await send.send(attempt(hook.url))
    expect(second).toMatchObject({ ok: true, statusCode: 200 })
    expect(hook.connections).toBe(2)
    expect(hook.requests).toHaveLength(3)
  })

  it('uses the system resolver for http://localhost when allowed', async () => {
    const hook = await receiver((_request, response) => response.writeHead(200).end('ok'))
    const result = await sender({ policy: local, timeoutMs: 5000 }).send(
      attempt(`http://localhost:${hook.port}/hooks`),
    )
    expect(result).toMatchObject({ ok: true, statusCode: 200 })
  })

  it('close() drops the kept-alive connections', async () => {
    let closed = 0
    const hook = await receiver((_request, response) => response.writeHead(200).end())
    hook.server.on('connection', (socket) => socket.on('close', () => (closed += 1)))
    const send = createWebhookSender({ policy: local, timeoutMs: 5000 })
    expect((await send.send(attempt(hook.url))).ok).toBe(true)
    expect(closed).toBe(0)
    await send.close()
    await eventually(async () => closed === 1, 'the receiver to see the connection closed', 3000)
  })

  it('reports a header Node will not send as a failed attempt, not a throw', async () => {
    const hook = await receiver((_request, response) => response.writeHead(200).end())
    const result = await sender({ policy: local, timeoutMs: 5000 }).send(
      attempt(hook.url, { messageId: 'msg_1\r\nx-injected: yes' }),
    )
    expect(result.ok).toBe(false)
    expect(result.error).toMatch(/webhook-id/)
    expect(hook.connections).toBe(0)
  })

  it('reports no secret as a failed attempt, not a throw', async () => {
    const hook = await receiver((_request, response) => response.writeHead(200).end())
    const result = await sender({ policy: local, timeoutMs: 5000 }).send(attempt(hook.url, { secrets: [] }))
    expect(result.ok).toBe(false)
    expect(result.error).toMatch(/signing secret/)
    expect(hook.connections).toBe(0)
  })
})

describe('webhook sender refuses what it may not contact (SSRF)', () => {
  it('without allowLocalhost, refuses http://127.0.0.1 and https to loopback before connecting', async () => {
    const hook = await receiver((_request, response) => response.writeHead(200).end())
    const send = sender({ policy: strict, timeoutMs: 2000 })
    const plain = await send.send(attempt(hook.url))
    expect(plain).toMatchObject({ ok: false, statusCode: null, error: 'webhook URLs must use https' })
    const literal = await send.send(attempt(`https://127.0.0.1:${hook.port}/`))
    expect(literal.error).toBe('127.0.0.1 is a loopback address')
    const disguised = await send.send(attempt(`https://2130706433:${hook.port}/`))
    expect(disguised.error).toBe('127.0.0.1 is a loopback address')
    const mapped = await send.send(attempt(`https://[::ffff:127.0.0.1]:${hook.port}/`))
    expect(mapped.error).toMatch(/maps to 127\.0\.0\.1, a loopback address/)
    const named = await send.send(attempt(`https://localhost:${hook.port}/`))
    expect(named.ok).toBe(false)
    expect(named.error).toMatch(/loopback/)
    expect(hook.connections).toBe(0)
  })

  it('checks every resolved address at connect time, whatever the name looked like', async () => {
    const hook = await receiver((_request, response) => response.writeHead(200).end())
    const answers = new Map<string, ResolvedAddress[]>([
      ['private.rebind.test', [{ address: '10.0.0.1', family: 4 }]],
      ['metadata.rebind.test', [{ address: '169.254.169.254', family: 4 }]],
      ['mapped.rebind.test', [{ address: '::ffff:127.0.0.1', family: 6 }]],
      ['loopback.rebind.test', [{ address: '127.0.0.1', family: 4 }]],
      ['ula.rebind.test', [{ address: 'fd00:ec2::254', family: 6 }]],
      [
        'mixed.rebind.test',
        [
          { address: '93.184.215.14', family: 4 },
          { address: '127.0.0.1', family: 4 },
        ],
      ],
    ])
    // allowLocalhost is on: loopback is still refused for any name but localhost and 127.0.0.1.
    const send = sender({
      policy: local,
      timeoutMs: 2000,
      resolve: async (hostname) => answers.get(hostname) ?? [],
    })
    const errorFor = async (hostname: string) =>
      (await send.send(attempt(`https://${hostname}:${hook.port}/`))).error

    expect(await errorFor('private.rebind.test')).toBe(
      '10.0.0.1 is a private address (resolved from private.rebind.test)',
    )
    expect(await errorFor('metadata.rebind.test')).toBe(
      '169.254.169.254 is a link-local address (resolved from metadata.rebind.test)',
    )
    expect(await errorFor('mapped.rebind.test')).toBe(
      '::ffff:127.0.0.1 maps to 127.0.0.1, a loopback address (resolved from mapped.rebind.test)',
    )
    expect(await errorFor('loopback.rebind.test')).toBe(
      '127.0.0.1 is a loopback address (resolved from loopback.rebind.test)',
    )
    expect(await errorFor('ula.rebind.test')).toMatch(/^fd00:ec2::254 is a unique-local/)
    expect(await errorFor('mixed.rebind.test')).toBe(
      '127.0.0.1 is a loopback address (resolved from mixed.rebind.test)',
    )
    expect(hook.connections).toBe(0)
  })

  it('connects to the address it checked, not to what the name resolves to later', async () => {
    const hook = await receiver((_request, response) => response.writeHead(200).end())
    // The first answer passes; a rebinding resolver would then answer with a private address.
    const answers: ResolvedAddress[][] = [
      [{ address: '127.0.0.1', family: 4 }],
      [{ address: '10.0.0.1', family: 4 }],
    ]
    let calls = 0
    const send = sender({
      policy: local,
      timeoutMs: 2000,
      resolve: async () => answers[Math.min(calls++, answers.length - 1)] ?? [],
    })
    expect(await send.send(attempt(`http://localhost:${hook.port}/`))).toMatchObject({ ok: true })
    expect(calls).toBe(1)
    expect(hook.connections).toBe(1)
  })
})
