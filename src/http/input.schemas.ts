import { Type } from 'typebox'

/**
 * The documented bounds on input (docs/api.md, "Limits"). Every request schema takes its strings,
 * amounts, list limits and metadata from this module, so a bound is stated once. Past a bound the
 * API answers 422 limit_exceeded; a forbidden character is 422 forbidden_character.
 */
export const INPUT_LIMITS = {
  /** Any free string without a tighter bound of its own. */
  textLength: 1000,
  /** Decimal amounts: far more digits than NUMERIC(38) holds, far fewer than would cost parsing. */
  amountLength: 40,
  listLimit: 500,
  /** Nesting of any JSON body, checked on the raw text before anything recurses over it. */
  bodyDepth: 32,
  metadataBytes: 16 * 1024,
  /** Keys in all, nested objects included. */
  metadataKeys: 64,
  metadataKeyLength: 100,
  /** Levels of objects and arrays, the metadata object itself being the first. */
  metadataDepth: 5,
} as const

/** No C0 control character and no DEL: names, references, ids. */
export const SINGLE_LINE_PATTERN = '^[^\\u0000-\\u001F\\u007F]*$'
/** Free text may break lines and hold tabs; no other C0 control character, no DEL. */
export const FREE_TEXT_PATTERN = '^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F]*$'

/** The patterns that refuse characters (422 forbidden_character), as opposed to formats (400). */
export const CHARACTER_PATTERNS: ReadonlySet<string> = new Set([SINGLE_LINE_PATTERN, FREE_TEXT_PATTERN])

interface TextOptions {
  maxLength?: number
  minLength?: number
  description?: string
  examples?: string[]
}

/** A one-line string: at most 1,000 characters unless the field is tighter, no control characters. */
export function SingleLineText(options: TextOptions = {}) {
  return Type.String({ maxLength: INPUT_LIMITS.textLength, ...options, pattern: SINGLE_LINE_PATTERN })
}

/** Free text (descriptions, reasons): tabs and line breaks allowed, no other control character. */
export function FreeText(options: TextOptions = {}) {
  return Type.String({ maxLength: INPUT_LIMITS.textLength, ...options, pattern: FREE_TEXT_PATTERN })
}

/** A decimal amount; the money module parses it by the currency's exponent. */
export function AmountInput(options: { description: string; examples: string[] }) {
  return Type.String({ maxLength: INPUT_LIMITS.amountLength, ...options })
}

export const ListLimit = Type.Integer({
  minimum: 1,
  maximum: INPUT_LIMITS.listLimit,
  default: 50,
  description: `Items per page, 1 to ${INPUT_LIMITS.listLimit}, in plain decimal digits`,
})

/**
 * The keyword the validator reads for bounds JSON Schema cannot state (size in bytes, depth, keys
 * in all). An `x-` keyword, so OpenAPI carries it as an extension and other validators ignore it.
 */
export const JSON_LIMITS_KEYWORD = 'x-coffer-limits'

export interface JsonLimits {
  maxBytes: number
  maxDepth: number
  maxKeys: number
  maxKeyLength: number
  maxStringLength: number
}

/** The bounds of `metadata`, also applied to commands that arrive without HTTP. */
export const METADATA_LIMITS: JsonLimits = {
  maxBytes: INPUT_LIMITS.metadataBytes,
  maxDepth: INPUT_LIMITS.metadataDepth,
  maxKeys: INPUT_LIMITS.metadataKeys,
  maxKeyLength: INPUT_LIMITS.metadataKeyLength,
  maxStringLength: INPUT_LIMITS.textLength,
}

/** Metadata as a request takes it: a JSON object within the documented bounds. */
export const MetadataInput = Type.Record(Type.String(), Type.Unknown(), {
  description:
    `Free-form JSON object stored with the transaction: at most ${INPUT_LIMITS.metadataBytes} bytes ` +
    `serialised, ${INPUT_LIMITS.metadataKeys} keys in all (nested ones included), keys of at most ` +
    `${INPUT_LIMITS.metadataKeyLength} characters, ${INPUT_LIMITS.metadataDepth} levels deep, strings ` +
    `of at most ${INPUT_LIMITS.textLength} characters, no control characters`,
  maxProperties: INPUT_LIMITS.metadataKeys,
  propertyNames: { maxLength: INPUT_LIMITS.metadataKeyLength },
  [JSON_LIMITS_KEYWORD]: METADATA_LIMITS,
})

/** The keyword that marks a route's body schema as "this route takes no body". */
export const NO_BODY_KEYWORD = 'x-coffer-no-body'

/**
 * The body of a route that takes none. Declared like any body schema, so every POST, PUT, PATCH
 * and DELETE route states what it takes; no body, an empty one or `{}` passes, anything else is
 * a 400.
 */
export const NoBody = Type.Object(
  {},
  {
    additionalProperties: false,
    description: 'This operation takes no body: send none (or {})',
    [NO_BODY_KEYWORD]: true,
  },
)
