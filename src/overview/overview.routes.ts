import type { App } from '../http/app-type.js'
import { problemResponses } from '../http/problem.schemas.js'
import { adminOnly, jsonResponse, security } from '../http/route-conventions.js'
import { OperationsOverview } from './overview.schemas.js'
import type { OverviewService } from './overview.service.js'

/**
 * GET /operations/overview, registered under /api/v1. A static path, so the router picks it over
 * GET /operations/{id} (whose id is a uuid anyway), as OpenAPI matches concrete paths first.
 */
export async function overviewRoutes(app: App, deps: { overview: OverviewService }): Promise<void> {
  app.get(
    '/operations/overview',
    {
      config: { access: adminOnly },
      schema: {
        operationId: 'getOperationsOverview',
        tags: ['admin'],
        summary: 'What an operator checks: outbox backlog, dead letters, waiting work, worker jobs',
        description:
          'Admins only. Read from the database at request time, on every shape: unpublished outbox ' +
          'events, failed operations and webhook deliveries that ran out of retries (the latest 20, ' +
          'newest first), accepted operations and pending deliveries still waiting, the leases of ' +
          'the periodic worker jobs, and statement jobs by status.',
        security,
        response: {
          200: jsonResponse(OperationsOverview, { description: 'The figures, read now' }),
          ...problemResponses(401, 403),
        },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'no-store')
      return deps.overview.overview()
    },
  )
}
