import { randomUUID } from 'node:crypto'
import { copyFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AccessibilityAudit } from './accessibility.js'
import {
  DESKTOP,
  launchChromium,
  newPersonContext,
  OUTPUT_DIR,
  PHONE,
  recordPageErrors,
  saveScreenshot,
  type Viewport,
} from './chromium.js'
import { ADMIN_EMAIL, ADMIN_PASSWORD, type CofferServer, startCoffer } from './coffer-server.js'
import { eventually, heading, navLink, PASSWORD, signIn, textOf } from './console-ui.js'

/**
 * The main pages at desktop (1280×800) and phone (390×844) width: a screenshot of each under
 * test-results/browser/, axe on each, and at phone width the collapsed navigation and no
 * sideways scrolling. The data is made through the API (the flow test does it through the UI),
 * so the pages have something to show.
 *
 * COFFER_UPDATE_CONSOLE_SCREENSHOT=1 also copies the desktop Wallets page to docs/console.png,
 * the README's picture; ordinary runs leave the tracked file alone.
 */

const DOCS_SCREENSHOT = fileURLToPath(new URL('../../docs/console.png', import.meta.url))
const DEMO = { email: 'ada@example.com', name: 'Ada Lovelace' }
const FRIEND = { email: 'grace@example.com', name: 'Grace Hopper' }

interface Wallet {
  id: string
  currency: string
}

/** Just enough of the API to lay out a believable account: what a script would send with curl. */
class ApiSession {
  private constructor(
    private readonly baseUrl: string,
    private readonly accessToken: string,
  ) {}

  static async signUp(baseUrl: string, email: string, name: string): Promise<ApiSession> {
    await ApiSession.send(baseUrl, 'POST', '/api/v1/auth/register', { email, password: PASSWORD, name })
    return ApiSession.signIn(baseUrl, email, PASSWORD)
  }

  static async signIn(baseUrl: string, email: string, password: string): Promise<ApiSession> {
    const tokens = (await ApiSession.send(baseUrl, 'POST', '/api/v1/auth/sign-in', { email, password })) as {
      accessToken: string
    }
    return new ApiSession(baseUrl, tokens.accessToken)
  }

  private static async send(
    baseUrl: string,
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<unknown> {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`)
    return text === '' ? null : JSON.parse(text)
  }

  post(path: string, body: unknown): Promise<unknown> {
    return ApiSession.send(this.baseUrl, 'POST', path, body, {
      authorization: `Bearer ${this.accessToken}`,
      'idempotency-key': randomUUID(),
    })
  }

  async openWallet(currency: string): Promise<Wallet> {
    return (await this.post('/api/v1/wallets', { currency })) as Wallet
  }
}

/**
 * Whether any of the element is inside the viewport once it has stopped moving. A collapsed
 * Mantine AppShell navbar is slid off-screen, not hidden, so Playwright's isVisible() is true for
 * its links either way; and it slides (open after the burger, shut after a link), so a box read
 * mid-slide says neither.
 */
async function onScreen(page: Page, locator: Locator): Promise<boolean> {
  const viewport = page.viewportSize()
  let box = await locator.first().boundingBox({ timeout: 2_000 })
  for (let frame = 0; frame < 600; frame += 1) {
    await page.evaluate(
      'new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))',
    )
    const next = await locator.first().boundingBox({ timeout: 2_000 })
    if (JSON.stringify(next) === JSON.stringify(box)) break
    box = next
  }
  if (box === null || viewport === null) return false
  return box.x + box.width > 0 && box.x < viewport.width && box.y + box.height > 0 && box.y < viewport.height
}

const VIEWPORTS: { name: string; size: Viewport }[] = [
  { name: 'desktop', size: DESKTOP },
  { name: 'phone', size: PHONE },
]

describe('the console at desktop and phone width', () => {
  let server: CofferServer
  let browser: Browser
  const audit = new AccessibilityAudit()
  const pageErrors: string[] = []
  const overflowing: string[] = []

  async function personPage(viewport: Viewport): Promise<Page> {
    const context = await newPersonContext(browser, server.baseUrl, viewport)
    const page = await context.newPage()
    recordPageErrors(page, pageErrors)
    return page
  }

  /** Screenshot, axe, and at phone width: nothing wider than the screen. */
  async function capture(page: Page, name: string, viewport: string): Promise<void> {
    // Loaders announce themselves as status "Loading …": a picture of a spinner shows nothing.
    await eventually(() => page.getByRole('status', { name: /^Loading/ }).count()).toBe(0)
    await audit.check(page, `${name} (${viewport})`)
    if (viewport === 'phone') {
      const sideways = await page.evaluate<number>(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      )
      if (sideways > 1) overflowing.push(`${name}: ${sideways}px wider than the 390px screen`)
    }
    await saveScreenshot(page, `${name}-${viewport}`)
  }

  /** At phone width the nav is behind the burger; at desktop width it is simply there. */
  async function follow(page: Page, viewport: string, link: string): Promise<void> {
    if (viewport === 'phone' && !(await onScreen(page, navLink(page, link)))) {
      await page.getByRole('button', { name: 'Toggle navigation' }).click()
      await eventually(() => onScreen(page, navLink(page, link))).toBe(true)
    }
    await navLink(page, link).click()
    // Lets a navbar that closes on a choice finish sliding, so the picture and axe see the page.
    if (viewport === 'phone') await onScreen(page, navLink(page, link))
  }

  beforeAll(async () => {
    server = await startCoffer()
    browser = await launchChromium()
    const ada = await ApiSession.signUp(server.baseUrl, DEMO.email, DEMO.name)
    const grace = await ApiSession.signUp(server.baseUrl, FRIEND.email, FRIEND.name)
    const usd = await ada.openWallet('USD')
    const eur = await ada.openWallet('EUR')
    const jpy = await ada.openWallet('JPY')
    const graceUsd = await grace.openWallet('USD')
    await ada.post(`/api/v1/wallets/${usd.id}/deposits`, { amount: '250.00', description: 'Salary' })
    await ada.post(`/api/v1/wallets/${eur.id}/deposits`, { amount: '300.00', description: 'Savings' })
    await ada.post(`/api/v1/wallets/${jpy.id}/deposits`, { amount: '15000', description: 'Trip money' })
    await ada.post('/api/v1/transfers', {
      fromWalletId: usd.id,
      toWalletId: graceUsd.id,
      amount: '42.50',
      description: 'Dinner with Grace',
    })
    await ada.post(`/api/v1/wallets/${usd.id}/withdrawals`, { amount: '20.00', description: 'Cash' })
    // A card payment waiting for capture, so Holds and the Held figure have something to show.
    // Holds are taken by the merchant's side: an operator here.
    const operator = await ApiSession.signIn(server.baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD)
    await operator.post('/api/v1/holds', {
      walletId: usd.id,
      amount: '30.00',
      merchant: 'corner-cafe',
      description: 'Corner Cafe (pending)',
    })
  })

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
  })

  for (const { name: viewport, size } of VIEWPORTS) {
    it(`a user's pages at ${viewport} width (${size.width}×${size.height})`, async () => {
      const page = await personPage(size)
      await page.goto('/console/sign-in')
      await heading(page, 'Sign in').waitFor()
      await capture(page, 'sign-in', viewport)
      await signIn(page, DEMO.email, PASSWORD)

      if (viewport === 'phone') {
        // Collapsed: the burger is there and the links are not, until it is pressed.
        const burger = page.getByRole('button', { name: 'Toggle navigation' })
        await burger.waitFor()
        expect(await onScreen(page, navLink(page, 'Statements')), 'nav links before the burger').toBe(false)
      }
      // 250.00 - 42.50 - 20.00, of which 30.00 is held.
      const usdCard = page.getByTestId('wallet-card-USD')
      await eventually(() => textOf(usdCard)).toMatch(/187\.50.*157\.50.*30\.00/)
      await eventually(() => textOf(page.getByTestId('wallet-card-EUR'))).toContain('300.00')
      await eventually(() => textOf(page.getByTestId('wallet-card-JPY'))).toContain('15000')
      await capture(page, 'wallets', viewport)

      await page.getByRole('link', { name: 'Open USD wallet', exact: true }).first().click()
      await heading(page, 'USD wallet').waitFor()
      await eventually(() => page.getByTestId('history-row').count()).toBeGreaterThanOrEqual(3)
      await page.getByText('Balance over time').first().waitFor()
      await capture(page, 'wallet', viewport)

      await page.getByTestId('history-row').first().getByRole('link').first().click()
      await heading(page, 'Transaction').waitFor()
      await page.getByRole('table').first().waitFor()
      await capture(page, 'transaction', viewport)

      for (const [link, name] of [
        ['Move money', 'move-money'],
        ['Holds', 'holds'],
        ['Points', 'points'],
        ['Statements', 'statements'],
      ] as const) {
        await follow(page, viewport, link)
        await heading(page, link).waitFor()
        if (link === 'Holds')
          await page.getByRole('button', { name: 'Capture', exact: true }).first().waitFor()
        await capture(page, name, viewport)
      }
      await page.context().close()
    })

    it(`the admin's pages at ${viewport} width`, async () => {
      const page = await personPage(size)
      await page.goto('/console/sign-in')
      await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD)
      await follow(page, viewport, 'Users')
      await heading(page, 'Users').waitFor()
      const adaLink = page.getByRole('link', { name: DEMO.email, exact: true })
      await adaLink.waitFor()
      await capture(page, 'admin-users', viewport)
      await adaLink.click()
      await heading(page, DEMO.email).waitFor()
      await page.getByRole('link', { name: 'Open USD wallet', exact: true }).waitFor()
      await capture(page, 'admin-user', viewport)

      for (const [link, name] of [
        ['API keys', 'admin-api-keys'],
        ['FX rates', 'admin-fx-rates'],
        ['Operations', 'admin-operations'],
      ] as const) {
        await follow(page, viewport, link)
        await heading(page, link).waitFor()
        await capture(page, name, viewport)
      }
      await page.context().close()
    })
  }

  it('copies the desktop Wallets screenshot to docs/console.png when asked to', async () => {
    if (process.env.COFFER_UPDATE_CONSOLE_SCREENSHOT !== '1') return
    await copyFile(path.join(OUTPUT_DIR, 'wallets-desktop.png'), DOCS_SCREENSHOT)
  })

  it('no page has a serious or critical accessibility violation', () => {
    expect(audit.pages.length).toBeGreaterThan(0)
    expect(audit.blocking()).toEqual([])
  })

  it('no page is wider than a phone at phone width', () => {
    expect(overflowing).toEqual([])
  })

  it('no page threw an uncaught exception', () => {
    expect(pageErrors).toEqual([])
  })
})
