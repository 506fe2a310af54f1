import { Type } from 'typebox'
import type { App } from './app-type.js'
import { StringEnum } from './enum.schemas.js'
import type { HealthCheck } from './health.js'
import { ServiceUnavailable } from './http.errors.js'
import { problemResponses } from './problem.schemas.js'
import { sendProblem } from './problem-handler.js'
import { jsonResponse } from './route-conventions.js'

const CHECK_TIMEOUT_MS = 2000

const DependencyStatus = Type.Object({
  name: Type.String(),
  status: StringEnum(['up', 'down']),
  latencyMs: Type.Number(),
  required: Type.Optional(
    Type.Literal(false, { description: 'present on a dependency the API serves without' }),
  ),
  error: Type.Optional(Type.String()),
  details: Type.Optional(
    Type.Record(Type.String(), Type.Union([Type.Number(), Type.String(), Type.Boolean()]), {
      description: 'figures of the dependency, e.g. the outbox backlog and lagSeconds',
    }),
  ),
})

const HealthReport = Type.Object(
  {
    status: StringEnum(['up', 'degraded', 'down'], {
      description: 'down: a required dependency is down (503); degraded: only an optional one (Redis) is',
    }),
    uptimeSeconds: Type.Number(),
    dependencies: Type.Array(DependencyStatus),
  },
  { $id: 'HealthReport' },
)

const ProbeUp = Type.Object({ status: Type.Literal('up') }, { $id: 'ProbeUp' })

async function probe(check: HealthCheck) {
  const started = performance.now()
  // Shown only on an optional dependency, so the usual report stays as it was.
  const required = check.required === false ? { required: false as const } : {}
  let timer: NodeJS.Timeout | undefined
  try {
    const details = await Promise.race([
      check.details ? check.details() : check.check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        )
      }),
    ])
    return {
      name: check.name,
      status: 'up' as const,
      ...required,
      latencyMs: elapsed(started),
      ...(details ? { details } : {}),
    }
  } catch (error) {
    // The reason is shown (not hidden like a 5xx body) because operators need it, and it names
    // only the dependency, never credentials.
    const reason = error instanceof Error ? error.message : String(error)
    return {
      name: check.name,
      status: 'down' as const,
      ...required,
      latencyMs: elapsed(started),
      error: reason,
    }
  } finally {
    clearTimeout(timer)
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100
}

export async function healthRoutes(app: App, checks: HealthCheck[]) {
  const tags = ['health']

  // Shallow liveness probe: confirms the process can serve HTTP. Intentionally does NOT check
  // external dependencies, so a database outage never gets the process restarted.
  app.get(
    '/health/live',
    {
      config: { access: 'public' },
      schema: {
        operationId: 'getLiveness',
        tags,
        summary: 'Liveness',
        description:
          'Public. 200 while the process serves HTTP, whatever its dependencies: for a restart probe.',
        security: [],
        response: { 200: jsonResponse(ProbeUp, { description: 'The process serves HTTP' }) },
      },
    },
    async () => ({ status: 'up' as const }),
  )

  app.get(
    '/health/ready',
    {
      config: { access: 'public' },
      schema: {
        operationId: 'getReadiness',
        tags,
        summary: 'Readiness: 200 when every required dependency answers (Redis is not required)',
        description:
          'Public. For a load balancer: 503 service_unavailable names the dependencies that do not answer.',
        security: [],
        response: {
          200: jsonResponse(ProbeUp, { description: 'Every required dependency answers' }),
          ...problemResponses(503),
        },
      },
    },
    async (_request, reply) => {
      // Redis down leaves the API serving (rate limits open, the denylist read from the
      // database), so it must not take this instance out of the load balancer.
      const results = await Promise.all(checks.filter((c) => c.required !== false).map(probe))
      const down = results.filter((r) => r.status === 'down')
      if (down.length > 0) {
        return sendProblem(
          reply,
          new ServiceUnavailable({
            detail: `not ready: ${down.map((d) => `${d.name} (${d.error})`).join(', ')}`,
          }),
        )
      }
      return { status: 'up' as const }
    },
  )

  app.get(
    '/health',
    {
      config: { access: 'public' },
      schema: {
        operationId: 'getHealth',
        tags,
        summary: 'Every dependency with its status and latency',
        description:
          'Public. The report is the body of the 503 too: a required dependency is down. Degraded (200) means only an optional one is.',
        security: [],
        response: {
          200: jsonResponse(HealthReport, {
            description: 'Up, or degraded: only an optional dependency is down',
          }),
          503: jsonResponse(HealthReport, { description: 'Down: a required dependency does not answer' }),
        },
      },
    },
    async (_request, reply) => {
      const dependencies = await Promise.all(checks.map(probe))
      const status = dependencies.some((d) => d.status === 'down' && d.required !== false)
        ? ('down' as const)
        : dependencies.some((d) => d.status === 'down')
          ? ('degraded' as const)
          : ('up' as const)
      return reply
        .status(status === 'down' ? 503 : 200)
        .send({ status, uptimeSeconds: Math.round(process.uptime()), dependencies })
    },
  )
}
