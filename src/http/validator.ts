import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import Format from 'typebox/format'
import { Value } from 'typebox/value'
import { JSON_LIMITS_KEYWORD, type JsonLimits, NO_BODY_KEYWORD } from './input.schemas.js'
import { jsonLimitIssues } from './input-checks.js'

/**
 * Strings that stand for a number in a query string, path or header. TypeBox's own conversion
 * takes '1.5' as 1, '1e2' as 100, '+5', ' 5' and '0x10' as numbers, and '' as 0; an integer is
 * written in plain decimal digits here, or it is refused.
 */
const INTEGER_TEXT = /^-?(0|[1-9][0-9]*)$/
const NUMBER_TEXT = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/
const BOOLEAN_TEXT = /^(true|false)$/

interface SchemaNode {
  type?: unknown
  properties?: Record<string, SchemaNode>
  required?: string[]
  [keyword: string]: unknown
}

function looseScalarErrors(schema: SchemaNode, value: unknown): FastifySchemaValidationError[] {
  if (schema.type !== 'object' || !schema.properties || value === null || typeof value !== 'object') return []
  const errors: FastifySchemaValidationError[] = []
  for (const [name, property] of Object.entries(schema.properties)) {
    const text = (value as Record<string, unknown>)[name]
    if (typeof text !== 'string') continue
    const wanted =
      property.type === 'integer'
        ? INTEGER_TEXT
        : property.type === 'number'
          ? NUMBER_TEXT
          : property.type === 'boolean'
            ? BOOLEAN_TEXT
            : null
    if (wanted && !wanted.test(text)) {
      errors.push({
        keyword: 'type',
        instancePath: `/${name}`,
        schemaPath: `#/properties/${name}/type`,
        params: { type: property.type },
        message:
          property.type === 'boolean'
            ? 'must be true or false'
            : `must be ${property.type === 'integer' ? 'an integer' : 'a number'} in plain decimal digits`,
      })
    }
  }
  return errors
}

function jsonLimitErrors(
  checks: Array<[string, JsonLimits]>,
  value: unknown,
): FastifySchemaValidationError[] {
  if (checks.length === 0 || value === null || typeof value !== 'object') return []
  return checks.flatMap(([name, limits]) =>
    jsonLimitIssues((value as Record<string, unknown>)[name], limits, `/${name}`).map((issue) => ({
      ...issue,
      schemaPath: `#/properties/${name}/${JSON_LIMITS_KEYWORD}`,
    })),
  )
}

/**
 * The validator of every route: TypeBox, plus what JSON Schema cannot say. Query strings, params
 * and headers convert numbers strictly; body properties marked with JSON_LIMITS_KEYWORD are held
 * to their size, depth and key bounds; a body whose properties are all optional may be left out.
 */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const node = schema as SchemaNode
  const check = Compile(schema)
  const isBody = httpPart === 'body'
  const mayBeOmitted = isBody && node.type === 'object' && (node.required ?? []).length === 0
  const noBody = isBody && node[NO_BODY_KEYWORD] === true
  const limitChecks: Array<[string, JsonLimits]> = Object.entries(node.properties ?? {}).flatMap(
    ([name, property]) => {
      const limits = property[JSON_LIMITS_KEYWORD] as JsonLimits | undefined
      return limits ? [[name, limits] as [string, JsonLimits]] : []
    },
  )
  return (value: unknown) => {
    // Fastify hands a request without a body to the validator as null (or undefined).
    if (mayBeOmitted && (value === undefined || value === null)) return { value }
    if (isBody) {
      if (noBody && !check.Check(value)) {
        return {
          error: [
            {
              keyword: 'noBody',
              instancePath: '',
              schemaPath: `#/${NO_BODY_KEYWORD}`,
              params: {},
              message: 'must be empty: this operation takes no body (send none, or {})',
            },
          ],
        }
      }
      const errors = [
        ...(check.Check(value) ? [] : check.Errors(value)),
        ...jsonLimitErrors(limitChecks, value),
      ]
      return errors.length > 0 ? { error: errors } : { value }
    }
    const loose = looseScalarErrors(node, value)
    if (loose.length > 0) return { error: loose }
    const converted = Value.Convert(schema, value)
    return check.Check(converted) ? { value: converted } : { error: check.Errors(converted) }
  }
}

/** An instant that Date and PostgreSQL both hold: years 1 to 9999, no leap second. */
function isStorableInstant(text: string): boolean {
  const ms = Date.parse(text)
  if (!Number.isFinite(ms)) return false
  const year = new Date(ms).getUTCFullYear()
  return year >= 1 && year <= 9999
}

/**
 * RFC 3339 (ajv-formats' check) takes `23:59:60` (a leap second, which Date cannot hold: an
 * Invalid Date that failed later with a 500) and year 0000 (outside PostgreSQL's timestamps);
 * a `date-time` is also a storable instant here. Call after registerAjvFormats().
 */
export function registerStrictFormats(): void {
  const rfc3339 = Format.Get('date-time')
  Format.Set('date-time', (text) => (rfc3339 ? rfc3339(text) : true) && isStorableInstant(text))
}
