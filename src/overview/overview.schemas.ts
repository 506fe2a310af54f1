import { type Static, Type } from 'typebox'

const Timestamp = Type.String({ format: 'date-time' })
const NullableTimestamp = Type.Union([Timestamp, Type.Null()])
const Count = Type.Integer({ minimum: 0 })

export const DeadLetter = Type.Object(
  {
    kind: Type.Union([Type.Literal('operation'), Type.Literal('webhook_delivery')], {
      description:
        'A command (POST /operations or coffer.commands) refused for good, or a webhook delivery that ran out of retries',
    }),
    id: Type.String({ format: 'uuid', description: 'The operation id, or the delivery id (its webhook-id)' }),
    type: Type.String({ description: 'The operation type (deposit, ...), or the event type delivered' }),
    source: Type.String({
      description: "The command's sender (`coffer` for POST /operations), or the webhook subscription id",
    }),
    reason: Type.String({
      description: "The problem's code of an operation; the last error (or HTTP status) of a delivery",
    }),
    detail: Type.Union([Type.String(), Type.Null()], { description: "The problem's detail of an operation" }),
    attempts: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description: 'Delivery attempts made; null for an operation',
    }),
    failedAt: Timestamp,
  },
  { $id: 'DeadLetter' },
)
export type DeadLetter = Static<typeof DeadLetter>

export const WorkerJobLease = Type.Object(
  {
    job: Type.String({ description: 'The periodic job, e.g. expire-holds' }),
    holder: Type.String({ description: 'The worker holding the lease: host, pid and a random part' }),
    leaseUntil: Timestamp,
    takenAt: Timestamp,
    active: Type.Boolean({
      description: 'False once the lease lapsed: no worker runs the job until one takes it',
    }),
  },
  { $id: 'WorkerJobLease' },
)
export type WorkerJobLease = Static<typeof WorkerJobLease>

export const OperationsOverview = Type.Object(
  {
    generatedAt: { ...Timestamp, description: "The database's clock when the figures were read" },
    outbox: Type.Object(
      {
        pending: { ...Count, description: 'Events committed and not yet published to the bus' },
        oldestPendingAt: { ...NullableTimestamp, description: 'When the oldest of them was committed' },
        oldestPendingAgeSeconds: Type.Number({ minimum: 0, description: 'Its age; 0 with none pending' }),
      },
      {
        description:
          'The relay keeps this near 0; a growing age means no worker relays or the broker is down',
      },
    ),
    deadLetters: Type.Object(
      {
        count: { ...Count, description: 'failedOperations + failedWebhookDeliveries' },
        failedOperations: Count,
        failedWebhookDeliveries: Count,
        latest: Type.Array(DeadLetter, { maxItems: 20, description: 'Newest first, at most 20' }),
      },
      {
        description:
          'What failed for good and is recorded in the database. Commands refused before they had an ' +
          'operation (a body not of its schema, an unknown sender) are only in coffer.commands.dead.',
      },
    ),
    operations: Type.Object(
      {
        accepted: { ...Count, description: 'Operations accepted and not yet applied' },
        oldestAcceptedAt: NullableTimestamp,
      },
      { description: 'Asynchronous operations still waiting; the worker resends stale ones' },
    ),
    webhooks: Type.Object({
      pendingDeliveries: { ...Count, description: 'Deliveries waiting for their first attempt or a retry' },
      disabledSubscriptions: {
        ...Count,
        description: 'Subscriptions disabled, by failures or through the API',
      },
    }),
    workerJobs: Type.Array(WorkerJobLease, {
      description: 'The leases of the jobs that have one runner at a time, by job name',
    }),
    statementJobs: Type.Object({
      queued: Count,
      running: Count,
      done: Count,
      failed: Count,
      oldestQueuedAt: NullableTimestamp,
    }),
  },
  { $id: 'OperationsOverview' },
)
export type OperationsOverview = Static<typeof OperationsOverview>
