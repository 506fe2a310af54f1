import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

/** The parts of a V8 .cpuprofile the summary reads. */
interface CpuProfile {
  nodes: {
    id: number
    callFrame: { functionName: string; url: string; lineNumber: number }
    children?: number[]
  }[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

export interface ProfileSummary {
  file: string
  wallSeconds: number
  /** Share of the process's time spent idle (waiting on sockets, mostly the database). */
  idleShare: number
  busyMs: number
  /** Self time by area, as a share of busy time. */
  selfByArea: { area: string; ms: number; share: number }[]
  /** Share of busy samples with at least one frame of the area on the stack. */
  inclusiveByArea: { area: string; share: number }[]
  topFunctions: { name: string; where: string; area: string; ms: number; share: number }[]
}

const IDLE = 'idle'

/** Where a frame's code lives, or null for Node internals and natives, which are charged to their caller. */
function areaOfFrame(functionName: string, url: string): string | null {
  if (functionName === '(idle)') return IDLE
  if (functionName === '(garbage collector)') return 'GC'
  if (functionName === '(program)') return 'V8/native (unattributed)'
  if (functionName === '(root)') return null
  if (url === '') return functionName === 'stringify' || functionName === 'parse' ? 'JSON/validation' : null
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1]
  if (module !== undefined) {
    if (module === 'kysely') return 'Kysely'
    if (/^(pg|pg-.*|postgres-.*|pgpass|split2)$/.test(module)) return 'pg driver'
    if (/^(jose)$/.test(module)) return 'auth'
    if (
      /^(fast-json-stringify|ajv|ajv-formats|typebox|@sinclair\/typebox|fast-uri|json-schema-ref-resolver|secure-json-parse|@fastify\/(ajv-compiler|fast-json-stringify-compiler|type-provider-typebox|merge-json-schemas))$/.test(
        module,
      )
    )
      return 'JSON/validation'
    if (
      /^(pino|pino-std-serializers|sonic-boom|thread-stream|fast-redact|quick-format-unescaped)$/.test(module)
    )
      return 'logging'
    if (/^(uuidv7)$/.test(module)) return 'Coffer code'
    return 'HTTP/Fastify'
  }
  if (/\/dist\/auth\//.test(url)) return 'auth'
  if (/\/dist\/(http\/idempotency|ledger\/(group-commit|idempotency-keys))\./.test(url)) return 'idempotency'
  if (/\/dist\//.test(url)) return 'Coffer code'
  return null
}

const NODE = 'Node http/net/streams'

function shortLocation(url: string, line: number): string {
  if (url === '') return '(native)'
  const trimmed = url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/')
  return `${trimmed}:${line + 1}`
}

export function summarizeProfile(profile: CpuProfile, file: string): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const ownArea = new Map(
    profile.nodes.map((n) => [n.id, areaOfFrame(n.callFrame.functionName, n.callFrame.url)]),
  )

  // A native or Node-internal frame is charged to the nearest ancestor in a library or in Coffer
  // (a socket write made by pg is pg's cost, one made by Fastify's reply is HTTP's); with no such
  // ancestor it is Node's own work (parsing requests, reading sockets), or V8's.
  const chargedArea = new Map<number, string | null>()
  const libraryAncestor = (id: number): string | null => {
    if (chargedArea.has(id)) return chargedArea.get(id) ?? null
    const own = ownArea.get(id)
    const up = parent.get(id)
    const area = own ?? (up === undefined ? null : libraryAncestor(up))
    chargedArea.set(id, area)
    return area
  }
  const underNode = (id: number): boolean => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      if (byId.get(at)?.callFrame.url.startsWith('node:')) return true
    }
    return false
  }
  const chargeOf = (id: number): string =>
    libraryAncestor(id) ?? (underNode(id) ? NODE : 'V8/native (unattributed)')
  const stackAreas = new Map<number, Set<string>>()
  const areasOnStack = (id: number): Set<string> => {
    const cached = stackAreas.get(id)
    if (cached) return cached
    const up = parent.get(id)
    const areas = new Set(up === undefined ? [] : areasOnStack(up))
    const own = ownArea.get(id) ?? (byId.get(id)?.callFrame.url.startsWith('node:') ? NODE : null)
    if (own) areas.add(own)
    stackAreas.set(id, areas)
    return areas
  }

  const selfMs = new Map<number, number>()
  let totalMs = 0
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000
    selfMs.set(id, (selfMs.get(id) ?? 0) + ms)
    totalMs += ms
  })

  const areaMs = new Map<string, number>()
  const inclusiveMs = new Map<string, number>()
  const functionMs = new Map<string, { name: string; where: string; area: string; ms: number }>()
  for (const [id, ms] of selfMs) {
    const node = byId.get(id)!
    const area = chargeOf(id)
    areaMs.set(area, (areaMs.get(area) ?? 0) + ms)
    if (area !== IDLE) {
      for (const onStack of areasOnStack(id)) inclusiveMs.set(onStack, (inclusiveMs.get(onStack) ?? 0) + ms)
    }
    const name = node.callFrame.functionName || '(anonymous)'
    const where = shortLocation(node.callFrame.url, node.callFrame.lineNumber)
    const key = `${name} ${where} ${area}`
    const entry = functionMs.get(key) ?? { name, where, area, ms: 0 }
    entry.ms += ms
    functionMs.set(key, entry)
  }
  const idleMs = areaMs.get(IDLE) ?? 0
  const busyMs = totalMs - idleMs
  const share = (ms: number) => (busyMs > 0 ? ms / busyMs : 0)
  return {
    file,
    wallSeconds: (profile.endTime - profile.startTime) / 1e6,
    idleShare: totalMs > 0 ? idleMs / totalMs : 0,
    busyMs,
    selfByArea: [...areaMs]
      .filter(([area]) => area !== IDLE)
      .map(([area, ms]) => ({ area, ms, share: share(ms) }))
      .sort((a, b) => b.ms - a.ms),
    inclusiveByArea: [...inclusiveMs]
      // Node's frames are at the bottom of nearly every stack, so their inclusive share says nothing.
      .filter(([area]) => area !== IDLE && area !== 'GC' && area !== NODE && !area.startsWith('V8'))
      .map(([area, ms]) => ({ area, share: share(ms) }))
      .sort((a, b) => b.share - a.share),
    topFunctions: [...functionMs.values()]
      .filter((f) => f.area !== IDLE)
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 25)
      .map((f) => ({ ...f, share: share(f.ms) })),
  }
}

const percent = (share: number) => `${(share * 100).toFixed(1)} %`

export function formatProfileSummary(summary: ProfileSummary): string {
  const lines = [
    `profile ${summary.file}: ${summary.wallSeconds.toFixed(1)} s, idle ${percent(summary.idleShare)}, busy ${(summary.busyMs / 1000).toFixed(1)} s`,
    '',
    'self time by area (natives and Node internals charged to the library or Coffer code that called them), % of busy time:',
    ...summary.selfByArea.map((a) => `  ${a.area.padEnd(28)} ${percent(a.share).padStart(7)}`),
    '',
    'inclusive: busy samples with the area anywhere on the stack:',
    ...summary.inclusiveByArea.map((a) => `  ${a.area.padEnd(28)} ${percent(a.share).padStart(7)}`),
    '',
    'top functions by self time:',
    ...summary.topFunctions.map(
      (f) => `  ${percent(f.share).padStart(7)}  ${f.area.padEnd(22)} ${f.name} ${f.where}`,
    ),
  ]
  return lines.join('\n')
}

/** The newest .cpuprofile in a directory. */
export async function latestProfile(directory: string): Promise<string | null> {
  const files = (await readdir(directory).catch(() => [] as string[])).filter((f) =>
    f.endsWith('.cpuprofile'),
  )
  files.sort()
  const last = files.at(-1)
  return last === undefined ? null : path.join(directory, last)
}

export async function summarizeProfileFile(file: string): Promise<ProfileSummary> {
  return summarizeProfile(JSON.parse(await readFile(file, 'utf8')) as CpuProfile, file)
}

// `tsx bench/profile.ts <file.cpuprofile>` summarises a profile taken earlier.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2]
  if (!file) {
    process.stderr.write('usage: tsx bench/profile.ts <file.cpuprofile>\n')
    process.exit(2)
  }
  process.stdout.write(`${formatProfileSummary(await summarizeProfileFile(file))}\n`)
}
