/**
 * Domain errors. Services throw them; one handler (src/http/problem-handler.ts) renders them as
 * RFC 9457 problem+json. This module imports nothing from the project: the catalogue of every
 * definition is src/error-catalogue.ts, and a test keeps it and docs/errors.md in step.
 */
export interface ErrorDefinition {
  /** Stable, snake_case; clients branch on it. */
  code: string
  status: number
  title: string
  /**
   * The extra members of its problem body, in body order, as docs/errors.md lists them. An
   * `AppError` keeps only these, so a body never carries an undocumented member.
   */
  members: readonly string[]
}

export function problemType(code: string): string {
  return `urn:coffer:problem:${code}`
}

export class AppError extends Error {
  /** Extra members of the problem body, e.g. the available amount of insufficient_funds. */
  readonly extensions: Record<string, unknown>

  constructor(
    readonly definition: ErrorDefinition,
    readonly detail: string,
    extensions: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(detail, options)
    this.name = definition.code
    this.extensions = Object.fromEntries(
      Object.entries(extensions).filter(([member]) => definition.members.includes(member)),
    )
  }
  get code(): string {
    return this.definition.code
  }
  get status(): number {
    return this.definition.status
  }
}

type ErrorArgs<P> = undefined extends P ? [params?: P] : [params: P]

export interface DefinedError<P> {
  new (...args: ErrorArgs<P>): AppError
  readonly definition: ErrorDefinition
}

type ErrorSpec<P> = Omit<ErrorDefinition, 'members'> & {
  detail: string | ((params: P) => string)
} & (
    | {
        /** Members picked from the params as they are (a param left undefined is left out). */
        members?: readonly NoInfer<keyof NonNullable<P> & string>[]
        extensions?: undefined
      }
    | {
        members: readonly string[]
        /** For members that are not a plain pick of the params (renamed, constant, spread). */
        extensions: (params: P) => Record<string, unknown>
      }
  )

function pick(params: unknown, members: readonly string[]): Record<string, unknown> {
  const values = (params ?? {}) as Record<string, unknown>
  return Object.fromEntries(
    members.filter((member) => values[member] !== undefined).map((member) => [member, values[member]]),
  )
}

/**
 * Declares one error and returns its class; src/error-catalogue.ts lists it:
 * `const WalletFrozen = defineError<{ walletId: string }>({ code, status, title, members: ['walletId'], detail: (p) => ... })`.
 */
export function defineError<P = undefined>(spec: ErrorSpec<P>): DefinedError<P> {
  const members = spec.members ?? []
  const definition: ErrorDefinition = { code: spec.code, status: spec.status, title: spec.title, members }
  const extensions = spec.extensions ?? ((params: P) => pick(params, members))
  const DefinedAppError = class extends AppError {
    static readonly definition = definition
    constructor(...args: ErrorArgs<P>) {
      const params = args[0] as P
      const detail = typeof spec.detail === 'function' ? spec.detail(params) : spec.detail
      super(definition, detail, extensions(params))
    }
  }
  return DefinedAppError as unknown as DefinedError<P>
}
