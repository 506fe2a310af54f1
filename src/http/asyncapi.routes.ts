import type { TSchema } from 'typebox'
import { asyncApiDocument } from '../events/asyncapi.js'
import type { App } from './app-type.js'

/**
 * `/asyncapi.json`: the AsyncAPI 3.0 document of the events Coffer publishes and the commands it
 * consumes, public like `/openapi.json`. Built once: it depends only on the code.
 */
export async function asyncApiRoutes(app: App, commands: Record<string, TSchema>) {
  const document = asyncApiDocument(commands)
  const body = JSON.stringify(document)
  app.get(
    '/asyncapi.json',
    // Hidden from /openapi.json as /openapi.json itself is; the body is sent as built, so no
    // response schema strips what it does not declare.
    { config: { access: 'public' }, schema: { hide: true } },
    async (_request, reply) => reply.type('application/json; charset=utf-8').send(body),
  )
}
