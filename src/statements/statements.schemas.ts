import { type Static, Type } from 'typebox'
import { StringEnum } from '../http/enum.schemas.js'
import { StatementKind } from './statement-document.schemas.js'
import { STATEMENT_FORMATS } from './statement-types.js'

export { StatementDocument } from './statement-document.schemas.js'

export const StatementFormat = StringEnum(STATEMENT_FORMATS, {
  $id: 'StatementFormat',
  description: 'json, csv (RFC 4180) or pdf',
})

export const StatementJobStatus = StringEnum(['queued', 'running', 'done', 'failed'], {
  $id: 'StatementJobStatus',
  description: 'queued, then running, then done (its file ready) or failed (see error)',
})

const Uuid = Type.String({ format: 'uuid' })
const Timestamp = Type.String({ format: 'date-time' })
const NullableTimestamp = Type.Union([Timestamp, Type.Null()])

const Boundary = (description: string) =>
  Type.String({
    maxLength: 40,
    description,
    examples: ['2026-11-01', '2026-11-01T00:00:00Z'],
  })

const periodQuery = {
  from: Boundary(
    'Start, inclusive: an RFC 3339 date-time with an offset, or a date (the start of that day in tz)',
  ),
  to: Boundary(
    'End, exclusive: an RFC 3339 date-time with an offset, or a date (the start of that day in tz)',
  ),
  tz: Type.Optional(
    Type.String({
      maxLength: 64,
      description: 'IANA time zone for day boundaries and printed dates; UTC if absent',
      examples: ['Europe/Moscow'],
    }),
  ),
  format: Type.Optional(
    StringEnum(STATEMENT_FORMATS, {
      description: 'json, csv or pdf; otherwise from the Accept header, JSON by default',
    }),
  ),
}

export const WalletStatementQuery = Type.Object(periodQuery, { additionalProperties: false })
export type WalletStatementQueryInput = Static<typeof WalletStatementQuery>

export const PointsStatementQuery = Type.Object(
  { ...periodQuery, userId: Type.Optional({ ...Uuid, description: 'Admins and services: whose points' }) },
  { additionalProperties: false },
)
export type PointsStatementQueryInput = Static<typeof PointsStatementQuery>

export const StatementJobParams = Type.Object({ jobId: { ...Uuid, description: 'The statement job id' } })

export const StatementJob = Type.Object(
  {
    id: Uuid,
    status: StatementJobStatus,
    kind: StatementKind,
    format: StatementFormat,
    accountId: Type.Union([Uuid, Type.Null()], { description: 'The wallet id, or the point account id' }),
    userId: { ...Uuid, description: 'Whose wallet or points' },
    currency: Type.String(),
    period: Type.Object({ from: Timestamp, to: Timestamp, timeZone: Type.String() }),
    progress: Type.Object({
      linesDone: Type.Integer(),
      linesTotal: Type.Union([Type.Integer(), Type.Null()], { description: 'Known once the job started' }),
      percent: Type.Number({ minimum: 0, maximum: 100 }),
    }),
    file: Type.Union(
      [
        Type.Object(
          {
            url: Type.String({ description: 'GET it to download the statement' }),
            contentType: Type.String(),
            filename: Type.String(),
            size: Type.Integer({ description: 'Bytes' }),
            sha256: Type.String({ description: 'SHA-256 of the file, hex' }),
          },
          { $id: 'StatementFileInfo' },
        ),
        Type.Null(),
      ],
      { description: 'Set once the job is done' },
    ),
    fingerprint: Type.Union([Type.String(), Type.Null()], {
      description: "SHA-256 of the statement's CSV form, printed in the PDF's footer",
    }),
    error: Type.Union([Type.String(), Type.Null()]),
    attempts: Type.Integer(),
    createdAt: Timestamp,
    startedAt: NullableTimestamp,
    finishedAt: NullableTimestamp,
    expiresAt: { ...NullableTimestamp, description: 'When the job and its file are deleted' },
  },
  {
    $id: 'StatementJob',
    description: 'A statement made in the background: poll it until done, then download its file',
  },
)
export type StatementJobView = Static<typeof StatementJob>
