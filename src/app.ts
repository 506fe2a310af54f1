import swaggerUi from '@fastify/swagger-ui'
import { registerAjvFormats, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify'
import { registerAccessControl } from './auth/access.js'
import { authRoutes, jwksRoutes } from './auth/auth.routes.js'
import { batchRoutes } from './batches/batches.routes.js'
import { trustProxyOf } from './config.js'
import type { Container } from './container.js'
import { currencyRoutes } from './currencies/currencies.routes.js'
import { fxRoutes } from './fx/fx.routes.js'
import type { App } from './http/app-type.js'
import { asyncApiRoutes } from './http/asyncapi.routes.js'
import { consoleRoutes } from './http/console.routes.js'
import { healthRoutes } from './http/health.routes.js'
import { ServiceUnavailable } from './http/http.errors.js'
import {
  answerClientError,
  answerFrameworkError,
  MAX_PARAM_LENGTH,
  registerInputGuards,
} from './http/input-guard.js'
import { metricsRoutes, registerHttpMetrics } from './http/metrics.routes.js'
import { registerOpenApi } from './http/openapi.js'
import { registerProblemHandlers } from './http/problem-handler.js'
import { registerRateLimits } from './http/rate-limit.js'
import { REQUEST_ID_HEADER, requestIdFor } from './http/request-id.js'
import { registerStrictFormats, validatorCompiler } from './http/validator.js'
import { operationRoutes } from './operations/operations.routes.js'
import {
  DepositRequested,
  PointsEarnRequested,
  TransferRequested,
  WithdrawalRequested,
} from './operations/operations.schemas.js'
import { overviewRoutes } from './overview/overview.routes.js'
import { paymentRoutes } from './payments/payments.routes.js'
import { pointsRoutes } from './points/points.routes.js'
import { statementRoutes } from './statements/statements.routes.js'
import { userRoutes } from './users/users.routes.js'
import { walletRoutes } from './wallets/wallets.routes.js'
import { webhookRoutes } from './webhooks/webhooks.routes.js'

/** The commands of `coffer.commands` with their bodies, for /asyncapi.json. */
const COMMAND_BODIES = {
  'deposit.requested': DepositRequested,
  'withdrawal.requested': WithdrawalRequested,
  'transfer.requested': TransferRequested,
  'points.earn.requested': PointsEarnRequested,
}

registerAjvFormats()
registerStrictFormats()

/** The HTTP API, without listen(), so tests drive it with inject(). */
export async function buildApp(container: Container): Promise<App> {
  const app = Fastify({
    loggerInstance: container.logger as FastifyBaseLogger,
    genReqId: requestIdFor,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
    // Requests that arrive while closing get a problem+json 503 from the hook below instead.
    return503OnClosing: false,
    trustProxy: trustProxyOf(container.config),
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)

  // JSON only: any other body type is a 415 problem, not a string handed to a route.
  app.removeContentTypeParser('text/plain')
  registerInputGuards(app)

  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id)
    if (closing) {
      reply.header('connection', 'close')
      throw new ServiceUnavailable({ detail: 'The server is shutting down; retry on another instance' })
    }
  })
  registerProblemHandlers(app)
  registerAccessControl(app, container.authenticator)
  registerHttpMetrics(app)

  await registerOpenApi(app)
  await app.register(swaggerUi, { routePrefix: '/docs' })
  await registerRateLimits(app, container.redis)
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () =>
    app.swagger(),
  )

  await app.register(async (scope) => healthRoutes(scope, container.healthChecks))
  await app.register(async (scope) => metricsRoutes(scope, { db: container.database.db }))
  await app.register(async (scope) => asyncApiRoutes(scope, COMMAND_BODIES))
  await app.register(async (scope) => consoleRoutes(scope))
  await app.register(async (scope) => jwksRoutes(scope, container))
  await app.register(
    async (scope) =>
      authRoutes(scope, {
        auth: container.auth,
        authRateLimitPerMinute: container.config.RATE_LIMIT_AUTH_PER_MINUTE,
      }),
    { prefix: '/api/v1' },
  )
  await app.register(async (scope) => walletRoutes(scope, container), { prefix: '/api/v1' })
  await app.register(async (scope) => paymentRoutes(scope, container), { prefix: '/api/v1' })
  await app.register(async (scope) => currencyRoutes(scope, container), { prefix: '/api/v1' })
  await app.register(async (scope) => pointsRoutes(scope, container), { prefix: '/api/v1' })
  await app.register(async (scope) => fxRoutes(scope, container), { prefix: '/api/v1' })
  await app.register(async (scope) => operationRoutes(scope, container), { prefix: '/api/v1' })
  await app.register(async (scope) => webhookRoutes(scope, container), { prefix: '/api/v1' })
  await app.register(async (scope) => statementRoutes(scope, container), { prefix: '/api/v1' })
  await app.register(async (scope) => batchRoutes(scope, container), { prefix: '/api/v1' })
  await app.register(async (scope) => userRoutes(scope, container), { prefix: '/api/v1' })
  await app.register(async (scope) => overviewRoutes(scope, container), { prefix: '/api/v1' })
  return app
}
