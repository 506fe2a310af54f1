/**
 * The dependency rule of docs/architecture.md, checked on every import in `src/` (type-only
 * imports and re-exports included), read with the TypeScript compiler's own pre-processor.
 * `npm run lint` runs it; it exits 1 naming each offending import.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

export interface Violation {
  from: string
  to: string
  rule: string
}

/** One import edge: `from` and `to` are paths relative to the project root, `to` a file or a package. */
interface Edge {
  from: string
  to: string
}

const isTest = (file: string) => file.endsWith('.test.ts')
const under = (file: string, dir: string) => file.startsWith(`src/${dir}/`)
const isPackage = (to: string) => !to.startsWith('src/')
const isFastify = (to: string) => to === 'fastify' || to.startsWith('fastify/') || to.startsWith('@fastify/')
const isRoute = (to: string) => to.endsWith('.routes.ts')
const isService = (file: string) => file.endsWith('.service.ts')
const isRepository = (file: string) => file.endsWith('.repository.ts')

/** The core: what knows nothing of HTTP. */
function isCore(file: string): boolean {
  return (
    ['ledger', 'money', 'db', 'events'].some((dir) => under(file, dir)) ||
    isService(file) ||
    isRepository(file)
  )
}

interface Rule {
  name: string
  /** True when the edge breaks the rule. */
  breaks(edge: Edge): boolean
}

const RULES: Rule[] = [
  {
    name: 'only cli/, worker/, bench/ and tests import app.ts or container.ts',
    breaks: ({ from, to }) =>
      (to === 'src/app.ts' || to === 'src/container.ts') &&
      !isTest(from) &&
      !under(from, 'cli') &&
      !under(from, 'worker') &&
      !(from === 'src/app.ts' && to === 'src/container.ts'),
  },
  {
    name: 'ledger/, money/, db/, events/, services and repositories import nothing from http/',
    breaks: ({ from, to }) => isCore(from) && !isTest(from) && under(to, 'http'),
  },
  {
    name: 'ledger/, money/, db/, events/, services and repositories import nothing from Fastify',
    breaks: ({ from, to }) => isCore(from) && !isTest(from) && isFastify(to),
  },
  {
    name: 'only app.ts imports route files',
    breaks: ({ from, to }) => isRoute(to) && from !== 'src/app.ts' && !isTest(from),
  },
  {
    name: 'repositories import no service',
    breaks: ({ from, to }) => isRepository(from) && isService(to),
  },
  {
    name: 'ledger/, money/ and db/ import no service',
    breaks: ({ from, to }) => ['ledger', 'money', 'db'].some((dir) => under(from, dir)) && isService(to),
  },
  {
    name: 'the error module (src/errors.ts) is a leaf: it imports no project file',
    breaks: ({ from, to }) => from === 'src/errors.ts' && !isPackage(to),
  },
  {
    name: 'money/ imports only money/, the error module and packages',
    breaks: ({ from, to }) =>
      under(from, 'money') &&
      !isTest(from) &&
      !isPackage(to) &&
      !under(to, 'money') &&
      to !== 'src/errors.ts',
  },
]

function sourceFiles(root: string): string[] {
  return readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => `src/${file.split(path.sep).join('/')}`)
    .sort()
}

/** Every import of a file, resolved to a project file (`src/...ts`) or a package name. */
function importsOf(root: string, file: string): string[] {
  const info = ts.preProcessFile(readFileSync(path.join(root, file), 'utf8'), true, true)
  return info.importedFiles.map(({ fileName }) => {
    if (!fileName.startsWith('.')) return fileName
    const resolved = path.posix.join(path.posix.dirname(file), fileName)
    return resolved.replace(/\.js$/, '.ts')
  })
}

/** The project files each file imports. */
function projectImports(edges: Edge[]): Map<string, string[]> {
  const next = new Map<string, string[]>()
  for (const { from, to } of edges) {
    if (isPackage(to)) continue
    next.set(from, [...(next.get(from) ?? []), to])
  }
  return next
}

/**
 * Core files that reach Fastify through files outside the core (as db/ once did through
 * auth.tables.ts and auth/access.ts), at the import that leaves the core, with the shortest chain
 * from there to Fastify; an import of Fastify inside the core is the rules' business.
 */
function fastifyReach(edges: Edge[]): { edge: Edge; chain: string[]; alsoImportedBy: number }[] {
  const next = projectImports(edges)
  const fastifyOf = new Map<string, string>()
  for (const { from, to } of edges) if (isFastify(to) && !fastifyOf.has(from)) fastifyOf.set(from, to)
  /** The shortest chain of files from `start` to a Fastify package, or null. */
  const chainToFastify = (start: string): string[] | null => {
    const cameFrom = new Map<string, string | null>([[start, null]])
    const queue = [start]
    while (queue.length > 0) {
      const file = queue.shift()!
      const fastify = fastifyOf.get(file)
      if (fastify) {
        const chain = [fastify]
        for (let at: string | null = file; at !== null; at = cameFrom.get(at) ?? null) chain.unshift(at)
        return chain
      }
      for (const target of next.get(file) ?? []) {
        if (cameFrom.has(target)) continue
        cameFrom.set(target, file)
        queue.push(target)
      }
    }
    return null
  }
  // One report per file outside the core that leads there, however many core files import it.
  const importersOf = new Map<string, string[]>()
  for (const edge of edges) {
    if (!isCore(edge.from) || isTest(edge.from) || isPackage(edge.to) || isCore(edge.to)) continue
    importersOf.set(edge.to, [...(importersOf.get(edge.to) ?? []), edge.from])
  }
  const found: { edge: Edge; chain: string[]; alsoImportedBy: number }[] = []
  for (const [to, importers] of [...importersOf].sort(([a], [b]) => a.localeCompare(b))) {
    const chain = chainToFastify(to)
    const from = importers.sort()[0]!
    if (chain)
      found.push({ edge: { from, to }, chain: [from, ...chain], alsoImportedBy: importers.length - 1 })
  }
  return found
}

/** Cycles between project files, each as the list of files around it. */
function cyclesOf(edges: Edge[]): string[][] {
  const next = projectImports(edges)
  // Tarjan's strongly connected components: a component of more than one file is a cycle.
  let index = 0
  const indexOf = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const cycles: string[][] = []
  const visit = (node: string) => {
    indexOf.set(node, index)
    low.set(node, index)
    index += 1
    stack.push(node)
    onStack.add(node)
    for (const target of next.get(node) ?? []) {
      if (!indexOf.has(target)) {
        visit(target)
        low.set(node, Math.min(low.get(node)!, low.get(target)!))
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node)!, indexOf.get(target)!))
      }
    }
    if (low.get(node) === indexOf.get(node)) {
      const component: string[] = []
      let member: string
      do {
        member = stack.pop()!
        onStack.delete(member)
        component.push(member)
      } while (member !== node)
      const selfImport = next.get(node)?.includes(node) ?? false
      if (component.length > 1 || selfImport) cycles.push(component.sort())
    }
  }
  for (const node of [...next.keys()].sort()) if (!indexOf.has(node)) visit(node)
  return cycles
}

/**
 * One import of a cycle and the way back to where it started, so the message names an import to
 * remove and shows the loop it closes: `a -> b -> c -> a`.
 */
function cycleLoop(cycle: string[], edges: Edge[]): { edge: Edge; loop: string[] } {
  const members = new Set(cycle)
  const inside = edges.filter((edge) => members.has(edge.from) && members.has(edge.to))
  const edge = inside[0]!
  // Shortest way from the import's target back to its source, inside the cycle.
  const cameFrom = new Map<string, string | null>([[edge.to, null]])
  const queue = [edge.to]
  while (queue.length > 0 && !cameFrom.has(edge.from)) {
    const file = queue.shift()!
    for (const next of inside.filter((candidate) => candidate.from === file)) {
      if (cameFrom.has(next.to)) continue
      cameFrom.set(next.to, file)
      queue.push(next.to)
    }
  }
  const back: string[] = []
  for (let at: string | null = edge.from; at !== null; at = cameFrom.get(at) ?? null) back.unshift(at)
  return { edge, loop: edge.from === edge.to ? [edge.from, edge.to] : [edge.from, ...back] }
}

/**
 * Every violation of the rule in the tree at `root`: the files of its `src/` by default, or only
 * the given `files` (paths relative to `root`).
 */
export function checkDependencies(root: string, files: string[] = sourceFiles(root)): Violation[] {
  const edges = files.flatMap((from) => importsOf(root, from).map((to) => ({ from, to })))
  const violations: Violation[] = []
  for (const edge of edges) {
    for (const rule of RULES) if (rule.breaks(edge)) violations.push({ ...edge, rule: rule.name })
  }
  for (const { edge, chain, alsoImportedBy } of fastifyReach(edges)) {
    const others =
      alsoImportedBy > 0 ? ` (${edge.to} is imported by ${alsoImportedBy} more core file(s))` : ''
    violations.push({
      ...edge,
      rule: `ledger/, money/, db/, events/, services and repositories reach no Fastify, even through other files: ${chain.join(' -> ')}${others}`,
    })
  }
  for (const cycle of cyclesOf(edges)) {
    const { edge, loop } = cycleLoop(cycle, edges)
    violations.push({ ...edge, rule: `no import cycles: ${loop.join(' -> ')}` })
  }
  return violations
}

export function formatViolation(violation: Violation): string {
  return `${violation.from} imports ${violation.to}: breaks "${violation.rule}"`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
  const violations = checkDependencies(root)
  for (const violation of violations) process.stderr.write(`dependencies: ${formatViolation(violation)}\n`)
  if (violations.length > 0) {
    process.stderr.write(`dependencies: ${violations.length} violation(s) of docs/architecture.md\n`)
    process.exit(1)
  }
  process.stdout.write('dependencies: ok\n')
}
