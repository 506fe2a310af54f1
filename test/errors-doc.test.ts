import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { errorCatalogue } from '../src/errors.js'

async function importEveryErrorModule(): Promise<void> {
  const files = await readdir('src', { recursive: true })
  for (const file of files.filter((f) => f.endsWith('errors.ts'))) {
    await import(pathToFileURL(path.resolve('src', file)).href)
  }
}

function documentedErrors(markdown: string) {
  return [...markdown.matchAll(/^\| `([a-z_]+)` +\| (\d{3}) +\| ([^|]+?) +\|/gm)].map((m) => ({
    code: m[1],
    status: Number(m[2]),
    title: m[3],
  }))
}

describe('error catalogue', () => {
  it('matches docs/errors.md code for code, status and title', async () => {
    await importEveryErrorModule()
    const documented = documentedErrors(await readFile('docs/errors.md', 'utf8'))
    const inCode = errorCatalogue().map(({ code, status, title }) => ({ code, status, title }))
    expect(documented.sort((a, b) => a.code!.localeCompare(b.code!))).toEqual(inCode)
  })
})
