import { type TUnsafe, Type } from 'typebox'

/**
 * A closed set of strings, rendered as `{ type: 'string', enum: [...] }`. TypeBox's union of
 * literals renders as `anyOf` of `const`s, which OpenAPI generators turn into a plain string or an
 * untyped union; an `enum` becomes the union of its values. The static type is that union too.
 */
export function StringEnum<const Values extends readonly [string, ...string[]]>(
  values: Values,
  options: { $id?: string; description?: string } = {},
): TUnsafe<Values[number]> {
  return Type.Unsafe<Values[number]>({ ...options, type: 'string', enum: [...values] })
}

/**
 * A closed set as StringEnum renders it, typed as a plain string: for values the code reads back
 * from a text column, where the database, not the type checker, keeps them in the set.
 */
export function TextEnum(
  values: readonly [string, ...string[]],
  options: { $id?: string; description?: string } = {},
): TUnsafe<string> {
  return Type.Unsafe<string>({ ...options, type: 'string', enum: [...values] })
}
