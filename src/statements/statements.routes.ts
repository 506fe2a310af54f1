import { PassThrough } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { principalOf } from '../auth/access.js'
import type { App } from '../http/app-type.js'
import { problemResponse, problemResponses } from '../http/problem.schemas.js'
import {
  anyone,
  jsonResponse,
  LocationHeader,
  type ResponseHeaders,
  RetryAfterHeader,
  security,
} from '../http/route-conventions.js'
import { renderStatement } from './render.js'
import { STATEMENT_CONTENT_TYPES, type StatementFormat } from './statement-types.js'
import { StatementFormatNotAcceptable } from './statements.errors.js'
import {
  PointsStatementQuery,
  StatementDocument,
  StatementJob,
  StatementJobParams,
  WalletStatementQuery,
} from './statements.schemas.js'
import type {
  PeriodQuery,
  StatementAnswer,
  StatementsService,
  StatementTarget,
} from './statements.service.js'

const tags = ['statements']
const fileHeaders: ResponseHeaders = {
  ETag: Type.String({ description: 'The SHA-256 of the file, quoted' }),
}
const WalletParams = Type.Object({ id: Type.String({ format: 'uuid', description: 'The wallet id' }) })

const StatementHeaders = Type.Object({
  prefer: Type.Optional(
    Type.String({ description: '`respond-async` makes even a short statement a job (202)' }),
  ),
})

const ContentDisposition: ResponseHeaders = {
  'Content-Disposition': Type.String({
    description: 'attachment (CSV) or inline (PDF), with the file name as filename and filename*',
  }),
}

/** A statement in each of its formats. */
const statementContent = {
  'application/json': { schema: StatementDocument },
  'text/csv': { schema: Type.String({ description: 'RFC 4180, a header row, then one row per line' }) },
  'application/pdf': { schema: Type.String({ format: 'binary' }) },
}

const statementResponses = {
  200: {
    description: 'The statement, in the format asked for; CSV and PDF come with Content-Disposition',
    headers: ContentDisposition,
    content: statementContent,
  },
  202: jsonResponse(StatementJob, {
    description: 'A job: follow Location (GET /api/v1/statements/{jobId}) until done',
    headers: {
      ...LocationHeader('The job: GET it until its status is done'),
      ...RetryAfterHeader('Seconds before the job is worth polling'),
    },
  }),
  ...problemResponses(400, 401, 404, 406, 422, 429),
}

/** `format` wins; otherwise Accept (q-values ignored, first match in order); JSON when it allows anything. */
export function negotiateFormat(
  format: StatementFormat | undefined,
  accept: string | undefined,
): StatementFormat {
  if (format) return format
  if (!accept) return 'json'
  const types = accept.split(',').map((part) => part.split(';')[0]!.trim().toLowerCase())
  for (const type of types) {
    if (type === 'application/json' || type === '*/*' || type === 'application/*') return 'json'
    if (type === 'text/csv' || type === 'text/*') return 'csv'
    if (type === 'application/pdf') return 'pdf'
  }
  throw new StatementFormatNotAcceptable({ accept })
}

function prefersAsync(prefer: string | undefined): boolean {
  return (
    prefer
      ?.toLowerCase()
      .split(',')
      .some((p) => p.trim() === 'respond-async') ?? false
  )
}

/** ASCII name for old clients, RFC 6266 `filename*` for the rest. */
function contentDisposition(kind: 'attachment' | 'inline', filename: string): string {
  return `${kind}; filename="${filename.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(filename)}`
}

export async function statementRoutes(app: App, deps: { statements: StatementsService }) {
  const { statements } = deps

  // Statements and files are streams, which the typed replies (JSON by schema) do not take.
  const answer = (reply: FastifyReply, result: StatementAnswer, request: FastifyRequest) => {
    if (result.kind === 'job') {
      return reply
        .code(202)
        .header('location', `/api/v1/statements/${result.job.id}`)
        .header('retry-after', '1')
        .send(result.job)
    }
    const body = new PassThrough()
    // Rendered straight into the response, so a statement never sits in memory whole; a failure
    // midway can only cut the response short (the status is already sent), and is logged.
    renderStatement(result.source, result.format, body).catch((error: unknown) => {
      request.log.error({ err: error }, 'statement rendering failed midway')
      body.destroy(error as Error)
    })
    reply.header('content-type', STATEMENT_CONTENT_TYPES[result.format])
    if (result.format !== 'json') {
      reply.header(
        'content-disposition',
        contentDisposition(result.format === 'pdf' ? 'inline' : 'attachment', result.filename),
      )
    }
    return reply.code(200).send(body)
  }

  /** Both statement routes: the format from `format` or Accept, a job on `Prefer: respond-async`. */
  const statementFor = async (
    request: FastifyRequest,
    reply: FastifyReply,
    target: StatementTarget,
    query: PeriodQuery & { format?: StatementFormat | undefined },
  ) => {
    const { prefer } = request.headers
    const result = await statements.request(
      principalOf(request),
      target,
      query,
      negotiateFormat(query.format, request.headers.accept),
      { preferAsync: prefersAsync(typeof prefer === 'string' ? prefer : undefined) },
    )
    return answer(reply, result, request)
  }

  app.get(
    '/wallets/:id/statement',
    {
      config: { access: anyone },
      schema: {
        operationId: 'getWalletStatement',
        tags,
        security,
        summary: "A wallet's statement for a period, as JSON, CSV or PDF (a job past 15 days)",
        description:
          "The owner's wallets (admins and services: any). Opening balance at from, closing balance at to, totals by type and every line with its balance after. Up to STATEMENT_IMMEDIATE_MAX_DAYS (15) days and STATEMENT_IMMEDIATE_MAX_LINES lines the statement is the answer (200); longer, or with Prefer: respond-async, it is a job (202, Location). Too many jobs at once is 429 too_many_statement_jobs.",
        params: WalletParams,
        querystring: WalletStatementQuery,
        headers: StatementHeaders,
        response: statementResponses,
      },
    },
    (request, reply) =>
      statementFor(request, reply, { kind: 'wallet', walletId: request.params.id }, request.query),
  )

  app.get(
    '/points/statement',
    {
      config: { access: anyone },
      schema: {
        operationId: 'getPointsStatement',
        tags,
        security,
        summary: "The caller's points statement for a period, as JSON, CSV or PDF",
        description:
          "A user's own points; admins and services name the user with userId. Answered at once or as a job, like the wallet statement.",
        querystring: PointsStatementQuery,
        headers: StatementHeaders,
        response: statementResponses,
      },
    },
    (request, reply) =>
      statementFor(request, reply, { kind: 'points', userId: request.query.userId }, request.query),
  )

  app.get(
    '/statements/:jobId',
    {
      config: { access: anyone },
      schema: {
        operationId: 'getStatementJob',
        tags,
        security,
        summary: 'A statement job: status, progress and, when done, its file',
        description:
          "The caller's own jobs; another user's is 404. Jobs and their files are deleted after their retention (expiresAt).",
        params: StatementJobParams,
        response: {
          200: jsonResponse(StatementJob, { description: 'The job as it is now' }),
          ...problemResponses(400, 401, 404),
        },
      },
    },
    async (request) => statements.job(principalOf(request), request.params.jobId),
  )

  app.get(
    '/statements/:jobId/file',
    {
      config: { access: anyone },
      schema: {
        operationId: 'downloadStatementFile',
        tags,
        security,
        summary: "Download a finished statement job's file",
        description:
          'The file never changes: its ETag is its SHA-256, so If-None-Match answers 304 and caches may keep it. Before the job is done, 409 statement_not_ready (with Retry-After unless it failed).',
        params: StatementJobParams,
        headers: Type.Object({
          'if-none-match': Type.Optional(Type.String({ description: 'An ETag of an earlier download' })),
        }),
        response: {
          200: {
            description: 'The file, in the format of the job',
            headers: { ...fileHeaders, ...ContentDisposition },
            content: statementContent,
          },
          304: {
            description: 'Not modified: If-None-Match names this file',
            type: 'null',
            headers: fileHeaders,
          },
          ...problemResponses(400, 401, 404),
          409: {
            ...problemResponse(409),
            headers: RetryAfterHeader('Seconds before the job is worth polling again; absent when it failed'),
          },
        },
      },
    },
    async (request, typedReply) => {
      const reply: FastifyReply = typedReply
      const file = await statements.file(principalOf(request), request.params.jobId)
      const etag = `"${file.sha256}"`
      reply
        .header('etag', etag)
        .header('cache-control', 'private, max-age=31536000, immutable')
        .header('content-type', file.contentType)
        .header('content-disposition', contentDisposition('attachment', file.filename))
      const ifNoneMatch = request.headers['if-none-match']
      if (ifNoneMatch?.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) {
        return reply.code(304).send()
      }
      reply.header('content-length', file.size)
      return reply.code(200).send(file.body)
    },
  )
}
