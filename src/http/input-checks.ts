import type { AppError } from '../errors.js'
import { InvalidRequest } from './http.errors.js'
import { ForbiddenCharacter, type InputIssue, LimitExceeded } from './input.errors.js'
import { CHARACTER_PATTERNS, type JsonLimits } from './input.schemas.js'

/**
 * C0 controls but tab, line feed and carriage return, DEL, and unpaired surrogates: PostgreSQL
 * refuses U+0000 in text (22021, which was a 500), and the others have no business in stored text
 * (an unpaired surrogate would be stored silently as U+FFFD).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const FORBIDDEN_ANYWHERE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]|\p{Cs}/u

const MAX_REPORTED_SEGMENT = 100

function pointerSegment(key: string): string {
  const shown = key.length > MAX_REPORTED_SEGMENT ? `${key.slice(0, MAX_REPORTED_SEGMENT)}…` : key
  return shown.replaceAll('~', '~0').replaceAll('/', '~1')
}

function codePointName(text: string): string {
  const found = FORBIDDEN_ANYWHERE.exec(text)?.[0] ?? ''
  return `U+${(found.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`
}

/**
 * The first string (value or object key) anywhere in `value` holding a forbidden character. A walk
 * with its own stack, not recursion: bodies are depth-bounded by the parser, query strings and
 * params are flat, but nothing here should depend on that.
 */
export function forbiddenCharacterIn(value: unknown, part: string): InputIssue | null {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path: '' }]
  while (stack.length > 0) {
    const { value: current, path } = stack.pop()!
    if (typeof current === 'string') {
      if (FORBIDDEN_ANYWHERE.test(current)) return characterIssue(part, path, codePointName(current))
    } else if (Array.isArray(current)) {
      current.forEach((item, index) => {
        stack.push({ value: item, path: `${path}/${index}` })
      })
    } else if (current !== null && typeof current === 'object') {
      for (const [key, item] of Object.entries(current)) {
        const itemPath = `${path}/${pointerSegment(key)}`
        if (FORBIDDEN_ANYWHERE.test(key)) return characterIssue(part, itemPath, codePointName(key), true)
        stack.push({ value: item, path: itemPath })
      }
    }
  }
  return null
}

function characterIssue(part: string, path: string, codePoint: string, inKey = false): InputIssue {
  return {
    instancePath: path,
    keyword: 'forbiddenCharacter',
    params: { part, codePoint },
    message: `${part}${path} ${inKey ? 'has a key that contains' : 'contains'} ${codePoint}, a control character or unpaired surrogate that no field accepts`,
  }
}

/** Bounds JSON Schema cannot state: size in bytes, depth, keys in all, and the strings inside. */
export function jsonLimitIssues(value: unknown, limits: JsonLimits, path: string): InputIssue[] {
  if (value === null || typeof value !== 'object') return []
  const issues: InputIssue[] = []
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8')
  if (bytes > limits.maxBytes) {
    issues.push(limitIssue(path, 'maxBytes', limits.maxBytes, `must not exceed ${limits.maxBytes} bytes`))
  }
  let keys = 0
  let deepest = 0
  let longString: string | null = null
  let longKey: string | null = null
  const stack: Array<{ value: unknown; depth: number; path: string }> = [{ value, depth: 1, path }]
  while (stack.length > 0) {
    const { value: current, depth, path: at } = stack.pop()!
    if (typeof current === 'string') {
      if (current.length > limits.maxStringLength) longString ??= at
      continue
    }
    if (current === null || typeof current !== 'object') continue
    deepest = Math.max(deepest, depth)
    if (depth > limits.maxDepth) continue
    const children = Array.isArray(current)
      ? current.map((item, index) => [String(index), item] as const)
      : Object.entries(current)
    if (!Array.isArray(current)) {
      keys += children.length
      for (const [key] of children)
        if (key.length > limits.maxKeyLength) longKey ??= `${at}/${pointerSegment(key)}`
    }
    for (const [key, item] of children)
      stack.push({ value: item, depth: depth + 1, path: `${at}/${pointerSegment(key)}` })
  }
  if (deepest > limits.maxDepth) {
    issues.push(
      limitIssue(path, 'maxDepth', limits.maxDepth, `must not nest more than ${limits.maxDepth} levels`),
    )
  }
  if (keys > limits.maxKeys) {
    issues.push(
      limitIssue(path, 'maxKeys', limits.maxKeys, `must not have more than ${limits.maxKeys} keys in all`),
    )
  }
  if (longKey !== null) {
    issues.push(
      limitIssue(
        longKey,
        'maxKeyLength',
        limits.maxKeyLength,
        `key must not have more than ${limits.maxKeyLength} characters`,
      ),
    )
  }
  if (longString !== null) {
    issues.push(
      limitIssue(
        longString,
        'maxLength',
        limits.maxStringLength,
        `must not have more than ${limits.maxStringLength} characters`,
      ),
    )
  }
  return issues
}

function limitIssue(instancePath: string, keyword: string, limit: number, message: string): InputIssue {
  return { instancePath, keyword, params: { limit }, message }
}

/**
 * Whether JSON text nests deeper than `maxDepth`, read without parsing, so a body of a hundred
 * thousand brackets is refused before JSON.parse or anything after it (the idempotency
 * fingerprint, the character walk) recurses over it. Hand-written: the JSON parsers on npm bound
 * the size of a body, not its depth, and this is one linear pass over text that is still valid
 * JSON or will be refused by the parser right after.
 */
export function jsonNestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x5b || c === 0x7b) {
      depth++
      if (depth > maxDepth) return true
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    }
  }
  return false
}

export function bodyTooDeep(maxDepth: number): AppError {
  return new LimitExceeded({
    detail: `The JSON body nests more than ${maxDepth} levels`,
    errors: [limitIssue('', 'maxDepth', maxDepth, `must not nest more than ${maxDepth} levels`)],
  })
}

export function forbiddenCharacterProblem(issue: InputIssue): AppError {
  return new ForbiddenCharacter({ detail: issue.message, errors: [issue] })
}

/** Keywords of an upper bound: the value has the right type and shape but is too big. */
const BOUND_KEYWORDS = new Set([
  'maxLength',
  'maxItems',
  'maxProperties',
  'maximum',
  'exclusiveMaximum',
  'maxBytes',
  'maxDepth',
  'maxKeys',
  'maxKeyLength',
])
/** Keywords that only summarise the failure of a nested keyword, reported beside it. */
const SUMMARY_KEYWORDS = new Set(['propertyNames'])

interface ValidationIssue {
  keyword: string
  params?: Record<string, unknown>
}

/**
 * A schema failure as a problem. Shape and type mismatches stay 400 invalid_request; when every
 * failure is past a documented bound or a forbidden character, the request was well-formed and
 * the answer is 422 (DESIGN §5, "past them, 422"). A request failing both ways is a 400: fix the
 * shape first.
 */
export function validationProblem(errors: readonly ValidationIssue[], detail: string): AppError {
  const significant = errors.filter((e) => !SUMMARY_KEYWORDS.has(e.keyword))
  const isCharacter = (e: ValidationIssue) =>
    e.keyword === 'pattern' && CHARACTER_PATTERNS.has(String(e.params?.pattern ?? ''))
  const isBound = (e: ValidationIssue) => BOUND_KEYWORDS.has(e.keyword)
  const issues = errors as unknown as InputIssue[]
  if (significant.length > 0 && significant.every((e) => isCharacter(e) || isBound(e))) {
    if (significant.some(isCharacter)) return new ForbiddenCharacter({ detail, errors: issues })
    return new LimitExceeded({ detail, errors: issues })
  }
  return new InvalidRequest({ detail, errors: [...errors] })
}
