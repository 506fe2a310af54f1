import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerAccessControl } from '../../src/auth/access.js'
import type { App } from '../../src/http/app-type.js'
import { CONSOLE_ROOTS, consoleRoutes } from '../../src/http/console.routes.js'
import { registerProblemHandlers } from '../../src/http/problem-handler.js'
import { createTestApp, type TestApp } from '../app.js'

/**
 * /console serves whatever Vite built. These tests give it a small build of their own (an
 * index.html, a hashed asset, an unhashed file) so they prove the serving rules without depending
 * on `npm run build` having run; the last block checks the route's place in the real app.
 */

const INDEX_HTML =
  '<!doctype html><html><head><script type="module" src="/console/assets/index-Ab12Cd34.js"></script></head><body><div id="root"></div></body></html>\n'
const HASHED_SCRIPT = 'console.log("the console")\n'

async function consoleApp(roots: string[]): Promise<App> {
  const app = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>()
  registerProblemHandlers(app)
  // Nobody is signed in: the console's files are public, as the route declares.
  registerAccessControl(app, { authenticate: async () => null })
  await app.register(async (scope) => consoleRoutes(scope, { roots }))
  await app.ready()
  return app
}

function expectProblem(
  response: { statusCode: number; headers: Record<string, unknown>; body: string },
  status: number,
  code: string,
) {
  expect(response.statusCode).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  const problem = JSON.parse(response.body) as { code: string; detail: string }
  expect(problem.code).toBe(code)
  return problem
}

describe('the console at /console, from a build', () => {
  let workspace: string
  let app: App

  beforeAll(async () => {
    workspace = await mkdtemp(join(tmpdir(), 'coffer-console-'))
    const root = join(workspace, 'console')
    await mkdir(join(root, 'assets'), { recursive: true })
    await writeFile(join(root, 'index.html'), INDEX_HTML)
    await writeFile(join(root, 'assets', 'index-Ab12Cd34.js'), HASHED_SCRIPT)
    await writeFile(join(root, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
    // Beside the build, not in it: no path under /console may reach it.
    await writeFile(join(workspace, 'secret.txt'), 'not for the web')
    // The first root has no index.html: the routes take the first root that is a build.
    app = await consoleApp([join(workspace, 'not-built'), root])
  })

  afterAll(async () => {
    await app?.close()
    await rm(workspace, { recursive: true, force: true })
  })

  it('answers /console/ with index.html, revalidated on every load', async () => {
    const response = await app.inject({ method: 'GET', url: '/console/' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^text\/html/)
    expect(response.headers['cache-control']).toBe('no-cache')
    expect(response.body).toBe(INDEX_HTML)
  })

  it('redirects /console to /console/, keeping the query', async () => {
    const bare = await app.inject({ method: 'GET', url: '/console' })
    expect(bare.statusCode).toBe(301)
    expect(bare.headers.location).toBe('/console/')
    const withQuery = await app.inject({ method: 'GET', url: '/console?next=%2Fwallets' })
    expect(withQuery.headers.location).toBe('/console/?next=%2Fwallets')
  })

  it('serves a hashed asset with its type, cached for a year as immutable', async () => {
    const response = await app.inject({ method: 'GET', url: '/console/assets/index-Ab12Cd34.js' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^(text|application)\/javascript/)
    expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    expect(response.body).toBe(HASHED_SCRIPT)
  })

  it('revalidates a file whose name is not hashed', async () => {
    const response = await app.inject({ method: 'GET', url: '/console/favicon.svg' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^image\/svg\+xml/)
    expect(response.headers['cache-control']).toBe('no-cache')
  })

  it("answers index.html for any path that is not a file (the app's own routes)", async () => {
    for (const url of [
      '/console/sign-in',
      '/console/wallets/01900000-0000-7000-8000-000000000000',
      '/console/admin/users?email=ada',
      '/console/move?wallet=x&kind=transfer',
    ]) {
      const response = await app.inject({ method: 'GET', url })
      expect(response.statusCode, url).toBe(200)
      expect(response.headers['content-type'], url).toMatch(/^text\/html/)
      expect(response.headers['cache-control'], url).toBe('no-cache')
      expect(response.body, url).toBe(INDEX_HTML)
    }
  })

  it('answers 404 problem+json for a missing file, never the app in its place', async () => {
    for (const url of ['/console/assets/index-Gone0000.js', '/console/assets/chunk', '/console/logo.png']) {
      const response = await app.inject({ method: 'GET', url })
      expectProblem(response, 404, 'not_found')
    }
  })

  it('never serves a file outside the build', async () => {
    for (const url of [
      '/console/..%2fsecret.txt',
      '/console/%2e%2e/secret.txt',
      '/console/assets/..%2f..%2fsecret.txt',
    ]) {
      const response = await app.inject({ method: 'GET', url })
      expect(response.body, url).not.toContain('not for the web')
      expect(response.statusCode, url).toBeGreaterThanOrEqual(400)
    }
  })

  it('sends a strict Content-Security-Policy and nosniff on pages and assets', async () => {
    for (const url of ['/console/', '/console/wallets', '/console/assets/index-Ab12Cd34.js']) {
      const response = await app.inject({ method: 'GET', url })
      const policy = String(response.headers['content-security-policy'])
      expect(policy, url).toContain("default-src 'self'")
      expect(policy, url).toContain("script-src 'self'")
      expect(policy, url).not.toMatch(/script-src[^;]*'unsafe-inline'/)
      expect(policy, url).toContain("frame-ancestors 'none'")
      expect(policy, url).toContain("object-src 'none'")
      expect(response.headers['x-content-type-options'], url).toBe('nosniff')
    }
  })

  it('answers HEAD for an asset without a body', async () => {
    const response = await app.inject({ method: 'HEAD', url: '/console/assets/index-Ab12Cd34.js' })
    expect(response.statusCode).toBe(200)
    expect(response.body).toBe('')
    expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable')
  })
})

describe('the console when it was not built', () => {
  let workspace: string
  let app: App

  beforeAll(async () => {
    workspace = await mkdtemp(join(tmpdir(), 'coffer-console-none-'))
    app = await consoleApp([join(workspace, 'console')])
  })

  afterAll(async () => {
    await app?.close()
    await rm(workspace, { recursive: true, force: true })
  })

  it('answers 503 problem+json saying to run npm run build, on every console path', async () => {
    for (const url of ['/console/', '/console/wallets', '/console/assets/index-Ab12Cd34.js']) {
      const problem = expectProblem(await app.inject({ method: 'GET', url }), 503, 'service_unavailable')
      expect(problem.detail, url).toContain('npm run build')
    }
  })
})

describe('the console in the app', () => {
  let testApp: TestApp

  beforeAll(async () => {
    testApp = await createTestApp()
  })

  afterAll(async () => {
    await testApp?.close()
  })

  it('looks for the build in dist/console, next to the compiled server', () => {
    const repositoryDist = fileURLToPath(new URL('../../dist/console', import.meta.url))
    expect(CONSOLE_ROOTS).toContain(repositoryDist)
  })

  it('is registered at /console, public', async () => {
    const response = await testApp.app.inject({ method: 'GET', url: '/console' })
    expect(response.statusCode).toBe(301)
    expect(response.headers.location).toBe('/console/')
  })

  it('leaves /docs to swagger-ui', async () => {
    const page = await testApp.app.inject({ method: 'GET', url: '/docs/' })
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('swagger')
    const asset = await testApp.app.inject({ method: 'GET', url: '/docs/static/swagger-ui.css' })
    expect(asset.statusCode).toBe(200)
    expect(asset.headers['content-security-policy'] ?? '').not.toContain("frame-ancestors 'none'")
  })

  it('stays out of the OpenAPI document', async () => {
    const document = (await testApp.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, unknown>
    }
    expect(Object.keys(document.paths).filter((path) => path.startsWith('/console'))).toEqual([])
  })
})
