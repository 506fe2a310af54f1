import type { Locator, Page, Request } from 'playwright-core'
import { expect } from 'vitest'

/**
 * What a person does on the console, in the words of the contract (/work/briefs/console-contract.md
 * for the builders; roles, labels and test ids here): no CSS classes, no component internals.
 */

export const PASSWORD = 'a long enough passphrase'

/** How long a polled expectation waits for the page to catch up: no fixed sleeps anywhere. */
export const SETTLE_MS = 20_000

export function eventually<T>(read: () => Promise<T>) {
  return expect.poll(read, { timeout: SETTLE_MS, interval: 200 })
}

/** Trimmed text of an element, or '' while it is not there (a poll retries). */
export async function textOf(locator: Locator): Promise<string> {
  if ((await locator.count()) === 0) return ''
  return ((await locator.first().textContent({ timeout: 2_000 })) ?? '').replace(/\s+/g, ' ').trim()
}

export function heading(page: Page, name: string | RegExp): Locator {
  return page.getByRole('heading', { name, exact: typeof name === 'string' })
}

/** A field by its label; exact, so "Password" is not also the visibility toggle's label. */
export function field(page: Page, label: string): Locator {
  return page.getByLabel(label, { exact: true })
}

/**
 * Picks an option of the select labelled `label`, whichever the console used: a native
 * <select>, or a Mantine Select (a text input that opens a listbox of role=option).
 */
export async function choose(page: Page, label: string, option: RegExp): Promise<void> {
  const control = field(page, label).first()
  await control.waitFor()
  const tag: string = await control.evaluate((element) => element.tagName)
  if (tag === 'SELECT') {
    const labels = (await control.locator('option').allTextContents()).map((text) => text.trim())
    const wanted = labels.find((text) => option.test(text))
    if (wanted === undefined) {
      throw new Error(`no option ${option} in select "${label}": ${labels.join(', ')}`)
    }
    await control.selectOption({ label: wanted })
    return
  }
  await control.click()
  const choice = page.getByRole('option', { name: option })
  try {
    await choice.first().waitFor({ timeout: 10_000 })
  } catch (error) {
    const offered = await page.getByRole('option').allTextContents()
    throw new Error(`no option ${option} in select "${label}" (offered: ${offered.join(', ')}): ${error}`)
  }
  await choice.first().click()
}

export async function signUp(page: Page, email: string, name: string): Promise<void> {
  await heading(page, 'Create your account').waitFor()
  await field(page, 'Email').fill(email)
  await field(page, 'Password').fill(PASSWORD)
  // "Name" is optional in the contract: filled where the form has it.
  const nameField = field(page, 'Name')
  if ((await nameField.count()) > 0) await nameField.fill(name)
  await page.getByRole('button', { name: 'Create account', exact: true }).click()
  await page.waitForURL(/\/console\/wallets$/)
  await heading(page, 'Wallets').waitFor()
}

export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await heading(page, 'Sign in').waitFor()
  await field(page, 'Email').fill(email)
  await field(page, 'Password').fill(password)
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await page.waitForURL(/\/console\/wallets$/)
  await heading(page, 'Wallets').waitFor()
}

/** Opens a wallet in `currency` from the Wallets page and waits for its card. */
export async function openWallet(page: Page, currency: string): Promise<Locator> {
  await choose(page, 'Currency', new RegExp(`^${currency}\\b`))
  await page.getByRole('button', { name: 'Open wallet', exact: true }).click()
  const card = page.getByTestId(`wallet-card-${currency}`)
  await card.waitFor()
  return card
}

/** From a wallet card's link to the wallet page; returns the id the page shows. */
export async function goToWalletPage(page: Page, currency: string): Promise<string> {
  await page
    .getByRole('link', { name: `Open ${currency} wallet`, exact: true })
    .first()
    .click()
  await page.waitForURL(/\/console\/wallets\/[^/?#]+$/)
  await heading(page, `${currency} wallet`).waitFor()
  const id = await textOf(page.getByTestId('wallet-id'))
  expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  expect(page.url()).toMatch(new RegExp(`/console/wallets/${id}$`))
  return id
}

export function navLink(page: Page, name: string): Locator {
  return page.getByRole('navigation').getByRole('link', { name, exact: true })
}

export function historyRows(page: Page): Locator {
  return page.getByTestId('history-row')
}

/** The text of every history row now on the page. */
export async function historyTexts(page: Page): Promise<string[]> {
  const rows = historyRows(page)
  const count = await rows.count()
  const texts: string[] = []
  for (let i = 0; i < count; i += 1) texts.push(await textOf(rows.nth(i)))
  return texts
}

/** POSTs the page sends to a Coffer API path matching `path`, from now on. */
export function recordPosts(page: Page, path: RegExp): Request[] {
  const posts: Request[] = []
  page.on('request', (request) => {
    if (request.method() === 'POST' && path.test(new URL(request.url()).pathname)) posts.push(request)
  })
  return posts
}

/** A calendar date in UTC (the browser contexts' time zone), `daysFromToday` away from today. */
export function utcDay(daysFromToday = 0): string {
  return new Date(Date.now() + daysFromToday * 86_400_000).toISOString().slice(0, 10)
}
