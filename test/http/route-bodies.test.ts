import { Type } from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NO_BODY_KEYWORD } from '../../src/http/input.schemas.js'
import { createTestApp, type TestApp } from '../app.js'

const METHODS_WITH_BODY = ['POST', 'PUT', 'PATCH', 'DELETE']

interface Operation {
  requestBody?: { content?: Record<string, { schema?: Record<string, unknown> }> }
}

/**
 * Every registered route with its methods, read from Fastify's own tree (which lists hidden
 * routes too, unlike the OpenAPI document): each line is a path segment under its parent.
 */
function registeredRoutes(tree: string): Array<{ method: string; url: string }> {
  const routes: Array<{ method: string; url: string }> = []
  const prefixes: string[] = []
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?/.exec(line.replaceAll('\u00a0', ' '))
    if (!match) continue
    const depth = match[1]!.length / 4
    const url = `${prefixes[depth - 1] ?? ''}${match[2]}`
    prefixes[depth] = url
    prefixes.length = depth + 1
    for (const method of (match[3] ?? '').split(', ').filter(Boolean)) routes.push({ method, url })
  }
  return routes
}

describe('every route that can take a body says what body it takes', () => {
  let t: TestApp

  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(async () => {
    await t?.close()
  })

  it('declares a body schema on every POST, PUT, PATCH and DELETE route, NoBody for none', async () => {
    const routes = registeredRoutes(t.app.printRoutes({ commonPrefix: false }))
    expect(routes.length).toBeGreaterThan(30)
    const document = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, Record<string, Operation>>
    }>()
    const offenders: string[] = []
    let checked = 0
    for (const { method, url } of routes) {
      if (!METHODS_WITH_BODY.includes(method)) continue
      checked += 1
      const operation = document.paths[url.replace(/:([A-Za-z]+)/g, '{$1}')]?.[method.toLowerCase()]
      if (!operation) {
        offenders.push(`${method} ${url}: not in /openapi.json, so its body cannot be checked`)
        continue
      }
      const schema = operation.requestBody?.content?.['application/json']?.schema
      if (!schema) offenders.push(`${method} ${url}: declares neither a body schema nor NoBody`)
    }
    expect(checked).toBeGreaterThan(20)
    expect(offenders).toEqual([])
  })

  it('marks the routes that take no body, and documents their body as optional', async () => {
    const document = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, Record<string, Operation & { requestBody?: { required?: boolean } }>>
    }>()
    const voidBody = document.paths['/api/v1/holds/{id}/void']?.post?.requestBody
    expect(voidBody?.required).toBe(false)
    expect(voidBody?.content?.['application/json']?.schema?.[NO_BODY_KEYWORD]).toBe(true)
    expect(document.paths['/api/v1/transfers']?.post?.requestBody?.required).toBe(true)
  })

  it('refuses to start with a route that declares no body', async () => {
    await expect(
      createTestApp({
        routes: (app) => {
          app.post('/test/bodiless', { config: { access: 'public' } }, async () => ({ ok: true }))
        },
      }),
    ).rejects.toThrow('route POST /test/bodiless declares no body schema')
  })

  it('starts with a route that declares a body or NoBody', async () => {
    const other = await createTestApp({
      routes: (app) => {
        app.post(
          '/test/with-body',
          { config: { access: 'public' }, schema: { body: Type.Object({ a: Type.String() }) } },
          async () => ({ ok: true }),
        )
      },
    })
    await other.close()
  })
})
