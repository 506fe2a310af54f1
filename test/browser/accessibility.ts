import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { ImpactValue } from 'axe-core'
import type { Page } from 'playwright-core'

/**
 * axe-core run inside the page. Violations are collected rather than thrown, so one contrast
 * problem does not hide whether the rest of a flow works; a test at the end of each file asserts
 * that none was serious or critical.
 */

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

export interface AxeViolation {
  id: string
  impact: ImpactValue | null
  help: string
  helpUrl: string
  /** CSS selectors of the offending nodes, with their failure summaries. */
  nodes: { target: string; summary: string }[]
}

export interface PageViolations {
  label: string
  url: string
  violations: AxeViolation[]
}

const BLOCKING: ReadonlySet<ImpactValue | null> = new Set<ImpactValue | null>(['serious', 'critical'])

export class AccessibilityAudit {
  readonly pages: PageViolations[] = []

  /** Runs axe on the page as it is now (call it once the page's heading shows). */
  async check(page: Page, label: string): Promise<AxeViolation[]> {
    await injectAxe(page)
    // A string, not a function: it runs in the page, where `axe` and `document` exist, and this
    // project's TypeScript has no DOM types.
    const violations = await page.evaluate<AxeViolation[]>(`
      axe.run(document, { resultTypes: ['violations'] }).then((results) =>
        results.violations.map((v) => ({
          id: v.id,
          impact: v.impact ?? null,
          help: v.help,
          helpUrl: v.helpUrl,
          nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary ?? '' })),
        })),
      )
    `)
    this.pages.push({ label, url: page.url(), violations })
    const moderate = violations.filter((v) => !BLOCKING.has(v.impact))
    for (const v of moderate) {
      console.info(
        `axe ${v.impact ?? 'unrated'} on ${label}: ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target).join(', ')}`,
      )
    }
    return violations
  }

  /** Serious and critical violations, one readable line per rule and page. */
  blocking(): string[] {
    return this.pages.flatMap(({ label, url, violations }) =>
      violations
        .filter((v) => BLOCKING.has(v.impact))
        .map(
          (v) =>
            `${label} (${url}): ${v.impact} ${v.id}: ${v.help} [${v.helpUrl}]\n${v.nodes
              .map((n) => `    ${n.target}: ${n.summary.replaceAll('\n', ' ')}`)
              .join('\n')}`,
        ),
    )
  }
}

/**
 * addScriptTag first, as a page author would include it. A console with a strict
 * Content-Security-Policy (script-src 'self') rightly refuses that inline script; DevTools'
 * evaluation is not subject to the page's CSP, so the same source goes in that way instead of
 * weakening the policy under test with bypassCSP.
 */
let cspRefusalReported = false

async function injectAxe(page: Page): Promise<void> {
  if (await page.evaluate<boolean>(`typeof axe === 'object'`)) return
  try {
    await page.addScriptTag({ content: AXE_SOURCE })
  } catch (error) {
    if (!cspRefusalReported) {
      cspRefusalReported = true
      console.info(
        `addScriptTag refused (${String(error).split('\n')[0]}): evaluating axe instead, here and on later pages`,
      )
    }
  }
  if (await page.evaluate<boolean>(`typeof axe === 'object'`)) return
  await page.evaluate(AXE_SOURCE)
  if (!(await page.evaluate<boolean>(`typeof axe === 'object'`))) {
    throw new Error(`axe-core could not be injected into ${page.url()}`)
  }
}
