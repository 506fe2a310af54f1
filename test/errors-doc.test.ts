import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { catalogueOf, errorCatalogue } from '../src/error-catalogue.js'
import { defineError } from '../src/errors.js'

const CATALOGUE_MODULE = 'src/error-catalogue.ts'

/** The names of an "Extra members" cell: its backticked names, leaving out the notes in parentheses. */
function membersOf(cell: string): string[] {
  return [...cell.replace(/\([^)]*\)/g, '').matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]!)
}

function documentedErrors(markdown: string) {
  return [...markdown.matchAll(/^\| `([a-z_]+)` +\| (\d{3}) +\| ([^|]+?) +\| ([^|]*)\|$/gm)].map((m) => ({
    code: m[1]!,
    status: Number(m[2]),
    title: m[3]!,
    members: membersOf(m[4]!),
  }))
}

/** Source files of src/ (tests left out), as paths relative to the project root. */
function sourceFiles(): string[] {
  return readdirSync('src', { recursive: true, encoding: 'utf8' })
    .map((file) => `src/${file.split(path.sep).join('/')}`)
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts') && !file.endsWith('.test.ts'))
    .sort()
}

/** Files that declare catalogue errors: every call of defineError outside its own module. */
function filesDeclaringErrors(): string[] {
  return sourceFiles().filter(
    (file) => file !== 'src/errors.ts' && /\bdefineError\s*[<(]/.test(readFileSync(file, 'utf8')),
  )
}

/** The project files the catalogue module imports, read with the TypeScript compiler. */
function importedByCatalogue(): Set<string> {
  const { importedFiles } = ts.preProcessFile(readFileSync(CATALOGUE_MODULE, 'utf8'), true, true)
  return new Set(
    importedFiles
      .map(({ fileName }) => fileName)
      .filter((fileName) => fileName.startsWith('.'))
      .map((fileName) => path.posix.join('src', fileName).replace(/\.js$/, '.ts')),
  )
}

describe('error catalogue', () => {
  it('matches docs/errors.md code for code: status, title and extra members', () => {
    const documented = documentedErrors(readFileSync('docs/errors.md', 'utf8'))
    const inCode = errorCatalogue().map(({ code, status, title, members }) => ({
      code,
      status,
      title,
      members: [...members],
    }))
    expect(documented.sort((a, b) => a.code.localeCompare(b.code))).toEqual(inCode)
  })

  it('imports every file that declares errors, so none can be forgotten', () => {
    const imported = importedByCatalogue()
    expect(filesDeclaringErrors().filter((file) => !imported.has(file))).toEqual([])
  })

  it('finds errors declared only in *.errors.ts files', () => {
    expect(filesDeclaringErrors().filter((file) => !file.endsWith('.errors.ts'))).toEqual([])
  })

  it('keeps only the declared members of a problem body', () => {
    const Picked = defineError<{ walletId: string; secret: string }>({
      code: 'picked',
      status: 422,
      title: 'Picked',
      members: ['walletId'],
      detail: 'Picked',
    })
    expect(new Picked({ walletId: 'w', secret: 's' }).extensions).toEqual({ walletId: 'w' })
    const Renamed = defineError<{ seconds: number }>({
      code: 'renamed',
      status: 429,
      title: 'Renamed',
      members: ['retryAfter'],
      detail: 'Renamed',
      extensions: (p) => ({ retryAfter: p.seconds, undocumented: true }),
    })
    expect(new Renamed({ seconds: 2 }).extensions).toEqual({ retryAfter: 2 })
  })

  it('refuses two definitions of one code, and counts one definition exported twice once', () => {
    const spec = { code: 'duplicate_code', status: 409, title: 'Twice', detail: 'Twice' }
    const First = defineError(spec)
    const Second = defineError(spec)
    expect(() => catalogueOf([{ First }, { Second }])).toThrow('error code duplicate_code is defined twice')
    expect(catalogueOf([{ First }, { Again: First }])).toEqual([First.definition])
  })
})
