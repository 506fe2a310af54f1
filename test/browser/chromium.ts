import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'

/**
 * Debian's Chromium driven by playwright-core: no browser download (the machine reaches no host
 * that serves Playwright's builds), so `.ci/run` installs the `chromium` package when it is missing.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export const DESKTOP = { width: 1280, height: 800 } as const
export const PHONE = { width: 390, height: 844 } as const

/** Screenshots and downloads of a run; test-results/ is gitignored. */
export const OUTPUT_DIR = fileURLToPath(new URL('../../test-results/browser/', import.meta.url))

export async function launchChromium(): Promise<Browser> {
  await mkdir(OUTPUT_DIR, { recursive: true })
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // No sandbox: CI runs as root, where Chromium refuses its sandbox. The rest keeps a headless
    // run from calling home (updates, sync, metrics), which this machine's network would refuse.
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-default-apps',
      '--disable-sync',
      '--metrics-recording-only',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
  })
}

export type Viewport = typeof DESKTOP | typeof PHONE

/**
 * One browser context per person: its own cookies and sessionStorage, so two users (and an
 * admin) are signed in side by side as they would be on three machines.
 */
export async function newPersonContext(
  browser: Browser,
  baseUrl: string,
  viewport: Viewport = DESKTOP,
): Promise<BrowserContext> {
  const phone = viewport.width < 600
  const context = await browser.newContext({
    baseURL: baseUrl,
    viewport,
    isMobile: phone,
    hasTouch: phone,
    acceptDownloads: true,
    // Statements cut days in UTC unless told otherwise; the test's "today" must be the same day.
    timezoneId: 'UTC',
    locale: 'en-US',
  })
  // Auto-waiting actions give up after this; a loaded 2-core CI machine is slow but not this slow.
  context.setDefaultTimeout(20_000)
  context.setDefaultNavigationTimeout(30_000)
  return context
}

/**
 * Uncaught exceptions in the page, per page: a console that throws while the test still sees the
 * right text is broken for someone.
 */
export function recordPageErrors(page: Page, into: string[]): void {
  page.on('pageerror', (error) => into.push(`${page.url()}: ${error.message}`))
}

export async function saveScreenshot(page: Page, name: string): Promise<string> {
  const file = path.join(OUTPUT_DIR, `${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  return file
}
