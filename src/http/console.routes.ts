import { stat } from 'node:fs/promises'
import { extname, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { App } from './app-type.js'
import { RouteNotFound, ServiceUnavailable } from './http.errors.js'

/**
 * The web console (packages/console), built by Vite into dist/console and served here at
 * /console/ with path routing: a path that is not a file answers index.html, and the browser-side
 * router takes it from there.
 *
 * From dist/http/console.routes.js the build is ../console; from src/http/ under tsx it is
 * ../../dist/console. The first that holds an index.html wins.
 */
export const CONSOLE_ROOTS = [
  fileURLToPath(new URL('../console', import.meta.url)),
  fileURLToPath(new URL('../../dist/console', import.meta.url)),
]

/** Vite puts every hashed file under assets/: their names change with their content. */
const HASHED_ASSETS = 'assets/'

/**
 * Mantine writes its CSS variables into <style> tags at run time, hence 'unsafe-inline' for styles
 * only; scripts come from this origin alone, and the API is the only thing the page talks to.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch (error) {
    // Absent is an answer; any other failure (permissions, I/O) is not, and surfaces as a 500.
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return false
    throw error
  }
}

async function builtConsoleRoot(roots: readonly string[]): Promise<string | null> {
  for (const root of roots.map((candidate) => resolve(candidate))) {
    if (await isFile(resolve(root, 'index.html'))) return root
  }
  return null
}

function securityHeaders(reply: FastifyReply): void {
  reply.header('content-security-policy', CONSOLE_CSP)
  reply.header('x-content-type-options', 'nosniff')
  reply.header('referrer-policy', 'same-origin')
}

export interface ConsoleRoutesOptions {
  /** Where the built console is looked for, first match wins; CONSOLE_ROOTS by default (tests pass their own). */
  roots?: readonly string[]
}

/** Registered at the root (no /api/v1 prefix), public, and hidden from OpenAPI. */
export async function consoleRoutes(app: App, options: ConsoleRoutesOptions = {}): Promise<void> {
  const root = await builtConsoleRoot(options.roots ?? CONSOLE_ROOTS)

  if (root !== null) {
    // serve: false registers no route of its own (each would need an access rule): the routes below
    // call reply.sendFile, decorated in this plugin's scope only, so /docs' own static files
    // (swagger-ui registers @fastify/static with decorateReply: false) are untouched.
    await app.register(fastifyStatic, { root, serve: false, index: false, wildcard: false })
  }

  app.get('/console', { config: { access: 'public' }, schema: { hide: true } }, async (request, reply) => {
    const query = request.url.indexOf('?')
    return reply.redirect(`/console/${query === -1 ? '' : request.url.slice(query)}`, 301)
  })

  const serveConsole = async (request: FastifyRequest<{ Params: { '*'?: string } }>, reply: FastifyReply) => {
    if (root === null) {
      throw new ServiceUnavailable({
        detail:
          'The web console is not built: run `npm run build` (it writes dist/console), then restart Coffer',
      })
    }
    securityHeaders(reply)
    const wanted = request.params['*'] ?? ''
    if (wanted !== '') {
      const file = resolve(root, wanted)
      const notFound = new RouteNotFound({ method: request.method, url: request.url.split('?')[0] ?? '' })
      if (!file.startsWith(root + sep)) throw notFound
      if (await isFile(file)) {
        // Hashed names never change content: cached for good. Anything else is revalidated each time.
        const hashed = wanted.startsWith(HASHED_ASSETS)
        reply.header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache')
        return reply.sendFile(wanted, { cacheControl: false })
      }
      // A missing file (an old hashed asset, a typo) is a 404, not the app: a script tag that got
      // HTML back would fail in a far more confusing way. Paths without an extension are the app's.
      if (extname(wanted) !== '' || wanted.startsWith(HASHED_ASSETS)) throw notFound
    }
    return reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false })
  }
  // The router's wildcard does not match the bare /console/, so it has a route of its own.
  app.get('/console/', { config: { access: 'public' }, schema: { hide: true } }, serveConsole)
  app.get('/console/*', { config: { access: 'public' }, schema: { hide: true } }, serveConsole)
}
