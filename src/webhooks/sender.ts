import { lookup as dnsLookup } from 'node:dns/promises'
import http, { type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import { performance } from 'node:perf_hooks'
import { checkWebhookUrl, refusedAddress, unbracketed } from './destination-policy.js'
import type {
  DestinationPolicy,
  WebhookAttempt,
  WebhookAttemptResult,
  WebhookSender,
} from './sender-types.js'
import { signatureHeader } from './signing.js'

/** How much of a receiver's answer is kept for the delivery log; the rest is never read. */
export const MAX_RESPONSE_BYTES = 4096

export interface ResolvedAddress {
  address: string
  family: 4 | 6
}

export type WebhookResolver = (hostname: string) => Promise<ResolvedAddress[]>

export interface WebhookSenderOptions {
  policy: DestinationPolicy
  /** The whole attempt: connect, request, response headers and the bounded body. */
  timeoutMs: number
  /** Replaces `dns.lookup(host, { all: true })`; tests use it to play a rebinding resolver. */
  resolve?: WebhookResolver
}

const USER_AGENT = 'Coffer-Webhooks/1'

/** A lookup that found an address the policy forbids; its message is the operator's reason. */
class DestinationRefused extends Error {
  readonly code = 'ERR_WEBHOOK_DESTINATION_REFUSED'
}

async function systemResolve(hostname: string): Promise<ResolvedAddress[]> {
  const found = await dnsLookup(hostname, { all: true })
  return found.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }))
}

/**
 * The agents' `lookup`: resolve, check every address, hand the socket only checked addresses.
 * The socket connects to what was checked, so a resolver that answers differently a second time
 * (DNS rebinding) has nothing to race against.
 */
function checkedLookup(policy: DestinationPolicy, resolve: WebhookResolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        // One refused address refuses the name: happy-eyeballs fallback could otherwise reach it.
        for (const { address, family } of addresses) {
          const refused = refusedAddress(address, family, policy, hostname)
          if (refused !== null) {
            callback(new DestinationRefused(`${refused} (resolved from ${hostname})`), '')
            return
          }
        }
        const family = options.family === 4 || options.family === 6 ? options.family : 0
        const usable = family === 0 ? addresses : addresses.filter((entry) => entry.family === family)
        const first = usable[0]
        if (first === undefined) {
          const missing: NodeJS.ErrnoException = new Error(`could not resolve ${hostname}`)
          missing.code = 'ENOTFOUND'
          callback(missing, '')
        } else if (options.all) {
          callback(null, usable)
        } else {
          callback(null, first.address, first.family)
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    )
  }
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined
  return typeof error.code === 'string' ? error.code : undefined
}

/** A failure in words an operator can act on, without the stack or Node's internals. */
function describeFailure(error: unknown, url: URL): string {
  const message = error instanceof Error ? error.message : String(error)
  const code = errorCode(error)
  const where = `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`
  switch (code) {
    case 'ERR_WEBHOOK_DESTINATION_REFUSED':
      return message
    case 'ENOTFOUND':
    case 'EAI_NONAME':
    case 'EAI_NODATA':
      return `could not resolve ${url.hostname}`
    case 'EAI_AGAIN':
      return `temporary DNS failure resolving ${url.hostname}`
    case 'ECONNREFUSED':
      return `connection refused by ${where}`
    case 'ECONNRESET':
      return `connection reset by ${where}`
    case 'ETIMEDOUT':
      return `connection to ${where} timed out`
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${where} is unreachable`
  }
  if (code !== undefined && (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code === 'EPROTO')) {
    return `TLS error with ${where}: ${message}`
  }
  // Certificate failures carry OpenSSL's names (CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT, ...).
  if (code !== undefined && /CERT|SIGNATURE|ISSUER/.test(code)) return `TLS error with ${where}: ${message}`
  return message
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it replaces
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g

/** Receivers answer in anything; the log column is text and NUL never reaches the database. */
function responseText(chunks: Buffer[], size: number): string {
  return Buffer.concat(chunks, size).toString('utf8').replace(CONTROL_CHARACTERS, '\ufffd')
}

function statusFailure(statusCode: number, response: IncomingMessage): string {
  if (statusCode >= 300 && statusCode < 400) {
    const location = response.headers.location
    const target = typeof location === 'string' && location !== '' ? ` to ${location.slice(0, 200)}` : ''
    return `redirect${target} not followed (HTTP ${statusCode})`
  }
  return `HTTP ${statusCode}`
}

export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const { policy, timeoutMs } = options
  const lookup = checkedLookup(policy, options.resolve ?? systemResolve)
  // One pool per scheme for every subscription: connections to a busy receiver stay warm, and
  // SNI and certificate checks stay on the URL's hostname because only `lookup` is replaced.
  const httpAgent = new http.Agent({ keepAlive: true, scheduling: 'lifo', lookup })
  const httpsAgent = new https.Agent({ keepAlive: true, scheduling: 'lifo', lookup })

  function send(attempt: WebhookAttempt): Promise<WebhookAttemptResult> {
    const started = performance.now()
    const elapsed = () => Math.round(performance.now() - started)
    const failed = (error: string, statusCode: number | null = null): WebhookAttemptResult => ({
      ok: false,
      statusCode,
      latencyMs: elapsed(),
      error,
      responseBody: '',
    })

    // Literal addresses never reach `lookup` (Node connects to them directly), so the URL check
    // here is what refuses https://10.0.0.5/ and its disguises.
    const check = checkWebhookUrl(attempt.url, policy)
    if (!check.ok) return Promise.resolve(failed(check.reason))
    const url = check.url
    let headers: OutgoingHttpHeaders
    try {
      headers = {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(attempt.body),
        'user-agent': USER_AGENT,
        'webhook-id': attempt.messageId,
        'webhook-timestamp': String(Math.floor(attempt.timestamp.getTime() / 1000)),
        'webhook-signature': signatureHeader(
          attempt.secrets,
          attempt.messageId,
          attempt.timestamp,
          attempt.body,
        ),
      }
    } catch (error) {
      return Promise.resolve(failed(error instanceof Error ? error.message : String(error)))
    }
    const isHttps = url.protocol === 'https:'
    const requestOptions: https.RequestOptions = {
      protocol: url.protocol,
      hostname: unbracketed(url.hostname),
      port: url.port === '' ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      headers,
      agent: isHttps ? httpsAgent : httpAgent,
    }

    return new Promise((resolve) => {
      let settled = false
      let request: ClientRequest | undefined
      let response: IncomingMessage | undefined
      const finish = (result: WebhookAttemptResult) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(result)
      }
      const timer = setTimeout(() => {
        finish(failed(`timed out after ${timeoutMs} ms`, response?.statusCode ?? null))
        response?.destroy()
        request?.destroy()
      }, timeoutMs)

      const onResponse = (incoming: IncomingMessage) => {
        response = incoming
        const statusCode = incoming.statusCode ?? 0
        const chunks: Buffer[] = []
        let size = 0
        const done = () => {
          const ok = statusCode >= 200 && statusCode < 300
          finish({
            ok,
            statusCode,
            latencyMs: elapsed(),
            error: ok ? null : statusFailure(statusCode, incoming),
            responseBody: responseText(chunks, size),
          })
        }
        incoming.on('data', (chunk: Buffer) => {
          if (settled) return
          const room = MAX_RESPONSE_BYTES - size
          const kept = chunk.length > room ? chunk.subarray(0, room) : chunk
          chunks.push(kept)
          size += kept.length
          if (size >= MAX_RESPONSE_BYTES) {
            done()
            // The rest is not wanted: a receiver streaming forever must not hold the attempt.
            incoming.destroy()
          }
        })
        incoming.on('end', done)
        // A body cut off after the status arrived still answers the attempt with that status.
        incoming.on('close', done)
        incoming.on('error', done)
      }

      const start = (isRetry: boolean) => {
        let outgoing: ClientRequest
        try {
          outgoing = (isHttps ? https : http).request(requestOptions)
        } catch (error) {
          // Node validates headers synchronously (a webhook-id with a newline, say).
          finish(failed(describeFailure(error, url)))
          return
        }
        request = outgoing
        outgoing.on('response', onResponse)
        outgoing.on('error', (error) => {
          if (settled) return
          // A kept-alive socket the receiver closed just as it was reused: nothing was received,
          // so one fresh connection is the same attempt (receivers de-duplicate by webhook-id).
          if (
            !isRetry &&
            outgoing.reusedSocket &&
            response === undefined &&
            errorCode(error) === 'ECONNRESET'
          ) {
            start(true)
            return
          }
          finish(failed(describeFailure(error, url)))
        })
        outgoing.end(attempt.body)
      }
      start(false)
    })
  }

  return {
    send,
    async close() {
      httpAgent.destroy()
      httpsAgent.destroy()
    },
  }
}
