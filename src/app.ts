import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import {
  registerAjvFormats,
  type TypeBoxTypeProvider,
  TypeBoxValidatorCompiler,
} from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import { registerAccessControl } from './auth/access.js'
import type { Container } from './container.js'
import { healthRoutes } from './http/health.routes.js'
import { registerProblemHandlers } from './http/problem-handler.js'
import { REQUEST_ID_HEADER, requestIdFor } from './http/request-id.js'

export type App = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>

registerAjvFormats()

/** The HTTP API, without listen(), so tests drive it with inject(). */
export async function buildApp(container: Container): Promise<App> {
  const app = Fastify({
    loggerInstance: container.logger as FastifyBaseLogger,
    genReqId: requestIdFor,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(TypeBoxValidatorCompiler)

  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id)
  })
  registerProblemHandlers(app)
  registerAccessControl(app, container.authenticator)

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Coffer',
        version: '1',
        description:
          'Wallets and a double-entry ledger. Errors are RFC 9457 problem+json; see docs/errors.md.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'An access token from /api/v1/auth/sign-in, or an API key (ck_...)',
          },
        },
      },
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () =>
    app.swagger(),
  )

  await app.register(async (scope) => healthRoutes(scope, container.healthChecks))
  return app
}
