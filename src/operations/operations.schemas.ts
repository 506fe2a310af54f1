import { type Static, Type } from 'typebox'
import { StringEnum } from '../http/enum.schemas.js'
import { EarnBody, EarnOutcome } from '../points/points.schemas.js'
import { LedgerTransaction, MovementBody, TransferBody } from '../wallets/wallets.schemas.js'

const Uuid = Type.String({ format: 'uuid' })

/**
 * The idempotency key of a command, chosen by its sender and scoped to it: the same sender sending
 * the same operationId twice moves money once.
 */
const OperationId = Type.String({
  minLength: 1,
  maxLength: 255,
  pattern: '^[\\x21-\\x7e]+$',
  description: 'Idempotency key of the command, unique per sending service (printable ASCII)',
})

const movementFields = MovementBody.properties
const transferFields = TransferBody.properties

/** Deposit or withdrawal: the body of POST /wallets/{id}/deposits plus the wallet. */
const WorldMovementFields = { walletId: Uuid, ...movementFields }

export const DepositOperationBody = Type.Object(
  { type: Type.Literal('deposit'), ...WorldMovementFields },
  { $id: 'DepositOperationRequest', additionalProperties: false },
)
export const WithdrawalOperationBody = Type.Object(
  { type: Type.Literal('withdrawal'), ...WorldMovementFields },
  { $id: 'WithdrawalOperationRequest', additionalProperties: false },
)
export const TransferOperationBody = Type.Object(
  { type: Type.Literal('transfer'), ...transferFields },
  { $id: 'TransferOperationRequest', additionalProperties: false },
)

export const CreateOperationBody = Type.Union(
  [DepositOperationBody, WithdrawalOperationBody, TransferOperationBody],
  {
    $id: 'CreateOperationRequest',
    description: 'type deposit | withdrawal | transfer, with the fields of the synchronous route',
  },
)
export type CreateOperationInput = Static<typeof CreateOperationBody>

/** Bodies of the inbound commands on `coffer.commands` (routing key = command type). */
export const DepositRequested = Type.Object(
  { operationId: OperationId, ...WorldMovementFields },
  { additionalProperties: false },
)
export const WithdrawalRequested = DepositRequested
export const TransferRequested = Type.Object(
  { operationId: OperationId, ...transferFields },
  { additionalProperties: false },
)
/** Points for a user, as POST /points/earn gives them; a service's loyalty engine sends it. */
export const PointsEarnRequested = Type.Object(
  { operationId: OperationId, ...EarnBody.properties },
  { additionalProperties: false },
)
export type WorldMovementCommand = Static<typeof DepositRequested>
export type TransferCommand = Static<typeof TransferRequested>
export type PointsEarnCommand = Static<typeof PointsEarnRequested>

export const COMMAND_TYPES = {
  'deposit.requested': 'deposit',
  'withdrawal.requested': 'withdrawal',
  'transfer.requested': 'transfer',
  'points.earn.requested': 'points_earn',
} as const
export type CommandType = keyof typeof COMMAND_TYPES

export const OperationParams = Type.Object({ id: { ...Uuid, description: 'The operation id' } })

export const OperationAccepted = Type.Object(
  {
    id: Uuid,
    status: Type.Literal('accepted'),
  },
  { $id: 'OperationAccepted', description: 'Recorded; applied through the command path. Poll the Location.' },
)

const OperationProblem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String(),
    detail: Type.String(),
  },
  {
    $id: 'OperationProblem',
    additionalProperties: true,
    description: 'Why the operation failed, as problem details',
  },
)

export const Operation = Type.Object(
  {
    id: Uuid,
    type: StringEnum(['deposit', 'withdrawal', 'transfer', 'points_earn'], {
      $id: 'OperationType',
      description: 'points_earn: a points.earn.requested command',
    }),
    status: StringEnum(['accepted', 'succeeded', 'failed'], {
      $id: 'OperationStatus',
      description: 'accepted until applied: then succeeded (transaction) or failed (problem)',
    }),
    transaction: Type.Union([LedgerTransaction, Type.Null()]),
    /** A points.earn.requested command's outcome; the ledger transaction is its transactionId. */
    points: Type.Optional(Type.Union([EarnOutcome, Type.Null()])),
    problem: Type.Union([OperationProblem, Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Operation', description: 'A movement accepted now and applied asynchronously' },
)
export type OperationView = Static<typeof Operation>
