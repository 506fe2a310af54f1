import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'

/**
 * The Fastify instance every plugin and route file receives, with the TypeBox type provider.
 * It lives in this leaf module, not in app.ts, so route files can be typed without importing
 * the module that imports them.
 */
export type App = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>
