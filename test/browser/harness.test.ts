import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AccessibilityAudit } from './accessibility.js'
import { launchChromium, newPersonContext } from './chromium.js'
import { type CofferServer, startCoffer } from './coffer-server.js'

/**
 * The harness on its own, on a page that does not depend on the console (swagger-ui at /docs):
 * when the console tests fail, this says whether the server, Chromium or axe is the cause.
 */
describe('browser harness', () => {
  let server: CofferServer
  let browser: Browser

  beforeAll(async () => {
    server = await startCoffer()
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
  })

  it('serves a real coffer start that answers ready', async () => {
    const response = await fetch(`${server.baseUrl}/health/ready`)
    expect(response.status).toBe(200)
  })

  it('drives Chromium to a page of that server and runs axe-core in it', async () => {
    const context = await newPersonContext(browser, server.baseUrl)
    const page = await context.newPage()
    const response = await page.goto('/docs/')
    expect(response?.status()).toBe(200)
    await page.locator('.swagger-ui').first().waitFor()
    const audit = new AccessibilityAudit()
    const violations = await audit.check(page, 'swagger-ui')
    // swagger-ui is not Coffer's markup: only that axe ran and answered is asserted here.
    expect(Array.isArray(violations)).toBe(true)
    expect(audit.pages).toHaveLength(1)
    await context.close()
  })

  it('reports serious and critical violations, so a clean console page means something', async () => {
    const context = await newPersonContext(browser, server.baseUrl)
    const page = await context.newPage()
    await page.setContent(
      '<html lang="en"><head><title>t</title></head><body><main><img src="/x.png"><button></button></main></body></html>',
    )
    const audit = new AccessibilityAudit()
    await audit.check(page, 'a page with faults')
    const blocking = audit.blocking()
    expect(blocking.some((line) => line.includes('image-alt'))).toBe(true)
    expect(blocking.some((line) => line.includes('button-name'))).toBe(true)
    await context.close()
  })

  it('stops the server it started', async () => {
    const { run } = server
    await server.stop()
    const exit = await run.exited
    // Coffer drains and exits 0 on SIGTERM; a signal here would mean stop() had to SIGKILL it.
    expect(exit).toEqual({ code: 0, signal: null })
    await expect(fetch(`${server.baseUrl}/health/live`)).rejects.toThrow()
  })
})
