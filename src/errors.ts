/**
 * The error catalogue. Services throw these; one handler (problem-handler.ts) renders them as
 * RFC 9457 problem+json. Every definition registers itself, and a test keeps the catalogue and
 * docs/errors.md in step.
 */
export interface ErrorDefinition {
  /** Stable, snake_case; clients branch on it. */
  code: string
  status: number
  title: string
}

const catalogue = new Map<string, ErrorDefinition>()

export function errorCatalogue(): ErrorDefinition[] {
  return [...catalogue.values()].sort((a, b) => a.code.localeCompare(b.code))
}

export function problemType(code: string): string {
  return `urn:coffer:problem:${code}`
}

export class AppError extends Error {
  constructor(
    readonly definition: ErrorDefinition,
    readonly detail: string,
    /** Extra members of the problem body, e.g. the available amount of insufficient_funds. */
    readonly extensions: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(detail, options)
    this.name = definition.code
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

/**
 * Declares one catalogue entry and returns its class:
 * `const InsufficientFunds = defineError({ code, status, title, detail: (p) => ..., extensions: (p) => p })`.
 */
export function defineError<P = undefined>(
  spec: ErrorDefinition & {
    detail: string | ((params: P) => string)
    extensions?: (params: P) => Record<string, unknown>
  },
): DefinedError<P> {
  const definition: ErrorDefinition = { code: spec.code, status: spec.status, title: spec.title }
  const existing = catalogue.get(spec.code)
  if (existing && (existing.status !== spec.status || existing.title !== spec.title)) {
    throw new Error(`error code ${spec.code} is defined twice with different meanings`)
  }
  catalogue.set(spec.code, definition)
  const DefinedAppError = class extends AppError {
    static readonly definition = definition
    constructor(...args: ErrorArgs<P>) {
      const params = args[0] as P
      const detail = typeof spec.detail === 'function' ? spec.detail(params) : spec.detail
      super(definition, detail, spec.extensions ? spec.extensions(params) : {})
    }
  }
  return DefinedAppError as unknown as DefinedError<P>
}
