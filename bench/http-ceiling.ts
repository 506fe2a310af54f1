import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon, { type Instance } from 'autocannon'
import { type CpuUse, cpuSnapshot, cpuUse } from './cpu.js'
import { freePort } from './server.js'

/**
 * The HTTP ceiling: what this machine's Node answers per second when a request costs nothing but
 * HTTP, a bare `node:http` server in a child process (as `coffer serve` is one) answering a fixed
 * body. Plain JavaScript through `node -e`, so no loader or transpiler sits in the measured path.
 */
const SERVER = `
const http = require('node:http')
const body = Buffer.from(process.env.CEILING_BODY)
const server = http.createServer((request, response) => {
  request.resume()
  response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length })
  response.end(body)
})
server.keepAliveTimeout = 72000
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\\n'))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
`

export interface HttpCeiling {
  requestsPerSecond: number
  bodyBytes: number
  latencyMs: { p50: number; p99: number; max: number }
  connections: number
  seconds: number
  /** CPU of the bare server (the `coffer` owner of this measurement is the bare server). */
  cpu: CpuUse | null
}

export async function measureHttpCeiling(options: {
  body: string
  connections: number
  duration: number
  warmup: number
  signal: AbortSignal
  /** Lets the caller stop the load on a signal. */
  onLoad: (load: Instance | null) => void
}): Promise<HttpCeiling> {
  const port = await freePort()
  const child = spawn(process.execPath, ['-e', SERVER], {
    env: { ...process.env, PORT: String(port), CEILING_BODY: options.body },
    stdio: ['ignore', 'pipe', 'inherit'],
    signal: options.signal,
  })
  const exited = once(child, 'exit').catch(() => null)
  try {
    let seen = ''
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        seen += chunk.toString()
        if (seen.includes('ready')) resolve()
      })
      child.on('exit', (code) => reject(new Error(`the ceiling server exited (${code}) before it was ready`)))
    })
    const url = `http://127.0.0.1:${port}`
    const loadFor = async (duration: number) => {
      const load = autocannon({
        url,
        connections: options.connections,
        duration,
        // A GET with the same headers a Coffer read carries, so the request parsing costs the same.
        headers: { authorization: 'Bearer ceiling' },
      })
      options.onLoad(load)
      try {
        return await load
      } finally {
        options.onLoad(null)
      }
    }
    if (options.warmup > 0) await loadFor(options.warmup)
    await sleep(200)
    const before = await cpuSnapshot(child.pid ?? null)
    const result = await loadFor(options.duration)
    const cpu = cpuUse(before, await cpuSnapshot(child.pid ?? null), result.requests.total)
    return {
      requestsPerSecond: result['2xx'] / result.duration,
      bodyBytes: Buffer.byteLength(options.body),
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      connections: options.connections,
      seconds: result.duration,
      cpu,
    }
  } finally {
    child.kill('SIGTERM')
    await exited
  }
}
