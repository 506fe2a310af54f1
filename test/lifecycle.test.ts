import { EventEmitter } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { exitGracefullyOnSignals, httpServerPart, type Stoppable } from '../src/cli/lifecycle.js'
import type { App } from '../src/http/app-type.js'
import { createTestApp, type TestApp } from './app.js'

const silentLogger = pino({ level: 'silent' })

/** A test app with a route that holds its request for `holdMs`, listening on a free port. */
async function listeningAppWithSlowRoute(holdMs: number, release: AbortSignal) {
  let markEntered!: () => void
  const entered = new Promise<void>((resolve) => {
    markEntered = resolve
  })
  const testApp = await createTestApp({
    routes: (app: App) => {
      app.get('/test/slow', { config: { access: 'public' } }, async () => {
        markEntered()
        // Released early when the test ends, so a cut request leaves no timer behind.
        await sleep(holdMs, undefined, { signal: release }).catch(() => {})
        return { done: true }
      })
    },
  })
  await testApp.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = testApp.app.server.address() as AddressInfo
  return { testApp, entered, baseUrl: `http://127.0.0.1:${port}` }
}

/** The parts runtime.ts stops, in its order, recording when each has finished stopping. */
function partsOf(testApp: TestApp, events: string[]): Stoppable[] {
  const server = httpServerPart(testApp.app)
  return [
    {
      ...server,
      stop: async () => {
        await server.stop()
        events.push('http closed')
      },
    },
    {
      name: 'storage',
      stop: async () => {
        await testApp.container.close()
        events.push('storage closed')
      },
    },
  ]
}

/**
 * A GET over a keep-alive connection the client never hangs up on, as a load balancer or proxy
 * holds them: shutdown must not wait for the client to close it.
 */
function keepAliveRequest(url: string, agent: http.Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          body += chunk
        })
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
      })
      .on('error', reject)
  })
}

/** A new TCP connection, never a pooled one: what a client arriving after the signal would open. */
function freshRequest(url: string): Promise<{ status: number } | { error: string }> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent: false }, (response) => {
      response.resume()
      response.on('end', () => resolve({ status: response.statusCode ?? 0 }))
    })
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
  })
}

describe('graceful shutdown', () => {
  let testApp: TestApp | undefined
  let agent: http.Agent
  let slowRequests: AbortController

  beforeEach(() => {
    agent = new http.Agent({ keepAlive: true })
    slowRequests = new AbortController()
  })

  afterEach(async () => {
    slowRequests.abort()
    agent.destroy()
    await testApp?.close()
    testApp = undefined
  })

  it('on SIGTERM finishes the request in flight, refuses new ones, closes storage, then exits 0', async () => {
    const started = await listeningAppWithSlowRoute(500, slowRequests.signal)
    testApp = started.testApp
    const events: string[] = []
    const signals = new EventEmitter()
    let exited!: (code: number) => void
    const exitCode = new Promise<number>((resolve) => {
      exited = resolve
    })
    exitGracefullyOnSignals({
      // Ample for a loaded machine; a connection left open would still hold shutdown past it.
      parts: partsOf(started.testApp, events),
      timeoutMs: 10_000,
      logger: started.testApp.container.logger,
      signals,
      exit: (code) => {
        events.push(`exit ${code}`)
        exited(code)
      },
    })

    const inFlight = keepAliveRequest(`${started.baseUrl}/test/slow`, agent)
    await started.entered
    signals.emit('SIGTERM')

    // A client arriving after the signal is turned away: refused, reset while the server drains
    // idle connections, or answered 503 if its request got through first.
    const late = await freshRequest(`${started.baseUrl}/health/live`)
    expect(late).toSatisfy(
      (outcome: { status: number } | { error: string }) =>
        ('error' in outcome && ['ECONNREFUSED', 'ECONNRESET'].includes(outcome.error)) ||
        ('status' in outcome && outcome.status === 503),
    )

    const response = await inFlight
    expect(response.status).toBe(200)
    expect(JSON.parse(response.body)).toEqual({ done: true })

    expect(await exitCode).toBe(0)
    expect(events).toEqual(['http closed', 'storage closed', 'exit 0'])
  })

  it('exits 1 when a request outlives the shutdown timeout, cutting it', async () => {
    const started = await listeningAppWithSlowRoute(30_000, slowRequests.signal)
    testApp = started.testApp
    const events: string[] = []
    const signals = new EventEmitter()
    let exited!: (code: number) => void
    const exitCode = new Promise<number>((resolve) => {
      exited = resolve
    })
    exitGracefullyOnSignals({
      parts: partsOf(started.testApp, events),
      timeoutMs: 200,
      logger: started.testApp.container.logger,
      signals,
      exit: (code) => {
        events.push(`exit ${code}`)
        exited(code)
      },
    })

    const inFlight = keepAliveRequest(`${started.baseUrl}/test/slow`, agent).then(
      (response) => response.status,
      () => 'cut' as const,
    )
    await started.entered
    const signalledAt = performance.now()
    signals.emit('SIGTERM')

    expect(await exitCode).toBe(1)
    // Cut at the timeout rather than waiting out the 30 s request.
    expect(performance.now() - signalledAt).toBeLessThan(10_000)
    expect(await inFlight).toBe('cut')
    expect(events).toEqual(['http closed', 'storage closed', 'exit 1'])
  })

  it('exits 1 even when a part never stops after being cut', async () => {
    const signals = new EventEmitter()
    let exited!: (code: number) => void
    const exitCode = new Promise<number>((resolve) => {
      exited = resolve
    })
    exitGracefullyOnSignals({
      parts: [{ name: 'stuck job', stop: () => new Promise<void>(() => {}) }],
      timeoutMs: 100,
      forcedStopGraceMs: 100,
      logger: silentLogger,
      signals,
      exit: exited,
    })
    signals.emit('SIGTERM')
    expect(await exitCode).toBe(1)
  })

  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'])('stops every part and exits 0 on %s', async (signal) => {
    const signals = new EventEmitter()
    const stops: string[] = []
    const codes: number[] = []
    let exited!: () => void
    const exitCalled = new Promise<void>((resolve) => {
      exited = resolve
    })
    exitGracefullyOnSignals({
      parts: [{ name: 'storage', stop: async () => void stops.push('storage') }],
      timeoutMs: 1000,
      logger: silentLogger,
      signals,
      exit: (code) => {
        codes.push(code)
        exited()
      },
    })
    signals.emit(signal)
    await exitCalled
    expect(stops).toEqual(['storage'])
    expect(codes).toEqual([0])
  })
})
