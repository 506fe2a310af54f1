import type { Compilable, CompiledQuery } from 'kysely'

/** Where a value goes in a query built once: the value itself comes with each run. */
class Slot {
  constructor(readonly index: number) {}
}

/**
 * Queries of the hot read path built and compiled by Kysely once per shape, then run with each
 * request's values. Building and compiling a query on every request was a fifth of the API
 * process's CPU during reads (issue 15 profile: visitNode, freeze, parseStringReference...),
 * while the SQL text of a given shape never changes. The query is built with placeholders (Slot
 * objects, which Kysely passes through as parameters), and each run swaps them for its values.
 * The query is still written with the query builder, so its columns and types stay checked.
 *
 * `shape` names the variant (which optional filters it has): every shape must build the same SQL
 * for every set of values, so a value must never decide what the query looks like.
 */
export class QueryShapes {
  private readonly shapes = new Map<string, CompiledQuery>()

  compiled<Row>(
    shape: string,
    values: readonly unknown[],
    /** Builds the query with `slot(i)` where `values[i]` goes. */
    build: (slot: (index: number) => never) => Compilable<Row>,
  ): CompiledQuery<Row> {
    let compiled = this.shapes.get(shape)
    if (!compiled) {
      compiled = build((index) => new Slot(index) as never).compile()
      this.shapes.set(shape, compiled)
    }
    const parameters = compiled.parameters.map((parameter) =>
      parameter instanceof Slot ? values[parameter.index] : parameter,
    )
    return { ...compiled, parameters } as CompiledQuery<Row>
  }
}
