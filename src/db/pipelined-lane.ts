import type { Socket } from 'node:net'
import pg from 'pg'
import type { Logger } from 'pino'

/** A pg Client's socket: pg corks it around each query, and so do we, around a whole tick. */
interface ClientWithSocket {
  connection: { stream: Socket }
}

interface Member {
  client: pg.Client
  ready: Promise<void>
  inFlight: number
  broken: boolean
  corked: boolean
}

export interface PipelinedLane {
  /** Runs one autocommit statement; `name` prepares it once per connection, as the pool does. */
  query(text: string, values: unknown[], name?: string): Promise<pg.QueryResult>
  end(): Promise<void>
}

/**
 * A few connections in node-postgres's pipeline mode for statements that run on their own
 * (autocommit: a wallet read, a history page, an API-key lookup). A pooled client carries one
 * statement at a time, so under load a read waits for a free client and then pays its own socket
 * write and its own wake-up of the backend, which on this class of machine cost more than the
 * read itself (issue 15: `writev` was 28 % of coffer's CPU during reads). Here every statement
 * goes straight to the member with the fewest in flight, and what is written to one member within
 * one turn of the event loop leaves in one write (the socket is corked until setImmediate).
 * PostgreSQL answers each statement on its own (each has its own Sync), so one failing does not
 * touch its neighbours. Transactions never come here: they need a connection of their own.
 *
 * A member whose connection broke is replaced on the next statement; the statements that were on
 * it fail with node-postgres's connection errors, which isDatabaseUnavailable() knows.
 */
export function createPipelinedLane(
  size: number,
  clientConfig: pg.ClientConfig,
  logger?: Logger,
): PipelinedLane {
  const members: (Member | undefined)[] = Array.from({ length: size }, () => undefined)
  let ending = false

  const open = (slot: number): Member => {
    const client = new pg.Client({ ...clientConfig, pipeline: true } as pg.ClientConfig)
    const member: Member = { client, ready: Promise.resolve(), inFlight: 0, broken: false, corked: false }
    const broke = (reason: string) => {
      member.broken = true
      if (members[slot] === member) members[slot] = undefined
      if (!ending) logger?.warn({ err: reason }, 'pipelined database connection lost')
    }
    client.on('error', (error) => broke(error.message))
    client.on('end', () => broke('connection ended'))
    member.ready = client.connect().then(
      () => undefined,
      (error: unknown) => {
        broke(error instanceof Error ? error.message : String(error))
        throw error
      },
    )
    members[slot] = member
    return member
  }

  const pick = (): Member => {
    let best: Member | undefined
    for (let slot = 0; slot < members.length; slot++) {
      const member = members[slot] ?? open(slot)
      if (!best || member.inFlight < best.inFlight) best = member
      if (best.inFlight === 0) break
    }
    // size ≥ 1 is checked by the caller; the loop always opens or finds one.
    return best as Member
  }

  const coalesceWrites = (member: Member) => {
    if (member.corked) return
    const socket = (member.client as unknown as ClientWithSocket).connection.stream
    member.corked = true
    socket.cork()
    setImmediate(() => {
      member.corked = false
      socket.uncork()
    })
  }

  return {
    async query(text, values, name) {
      if (ending) throw new Error('Cannot use a pool after calling end on the pool')
      const member = pick()
      member.inFlight += 1
      try {
        await member.ready
        if (!member.broken) coalesceWrites(member)
        return await (name ? member.client.query({ name, text, values }) : member.client.query(text, values))
      } finally {
        member.inFlight -= 1
      }
    },
    async end() {
      ending = true
      const open = members.filter((member): member is Member => member !== undefined)
      members.fill(undefined)
      await Promise.all(
        open.map(async (member) => {
          // A member that never connected has nothing to end; its failure was logged by broke().
          const connected = await member.ready.then(
            () => true,
            () => false,
          )
          if (connected && !member.broken) await member.client.end()
        }),
      )
    },
  }
}
