/**
 * The parts of an OpenAPI 3.1 document that Coffer's additions to @fastify/swagger's output read
 * and write (src/http/openapi.ts, and the input guards' statuses in src/http/input-guard.ts).
 */

export type JsonObject = { [key: string]: unknown }

export interface OpenApiSchema extends JsonObject {
  $ref?: string
  type?: string
  required?: string[]
}

export interface OpenApiResponse {
  $ref?: string
  description?: string
  headers?: Record<string, unknown>
  content?: Record<string, { schema?: OpenApiSchema }>
}

export interface OpenApiParameter {
  name: string
  in: string
  required?: boolean
  schema?: OpenApiSchema
}

export interface OpenApiOperation {
  operationId?: string
  security?: unknown[]
  parameters?: OpenApiParameter[]
  requestBody?: { required?: boolean; content?: Record<string, { schema?: OpenApiSchema }> }
  responses?: Record<string, OpenApiResponse>
}

export interface OpenApiDocument {
  paths?: Record<string, Record<string, OpenApiOperation>>
  components?: {
    schemas?: Record<string, OpenApiSchema>
    responses?: Record<string, OpenApiResponse>
    headers?: Record<string, unknown>
  }
}

export const SCHEMA_REF_PREFIX = '#/components/schemas/'
