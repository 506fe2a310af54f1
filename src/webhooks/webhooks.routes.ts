import { Type } from 'typebox'
import { principalOf } from '../auth/access.js'
import type { App } from '../http/app-type.js'
import { NoBody } from '../http/input.schemas.js'
import { problemResponses } from '../http/problem.schemas.js'
import { jsonResponse, LocationHeader, security } from '../http/route-conventions.js'
import {
  CreatedWebhook,
  CreateWebhookBody,
  DeliveryDetail,
  DeliveryList,
  DeliveryListQuery,
  DeliveryParams,
  ReplayAccepted,
  ReplayRangeBody,
  RotatedSecret,
  RotateSecretBody,
  UpdateWebhookBody,
  Webhook,
  WebhookList,
  WebhookListQuery,
  WebhookParams,
} from './webhooks.schemas.js'
import type { WebhooksService } from './webhooks.service.js'

const tags = ['webhooks']
/** Admins see and change every subscription; a service only the ones it created. */
const adminOrService = ['admin', 'service'] as const
const NoContent = Type.Null({ description: 'No content' })
const ownerNote = 'Admins see every subscription; a service only its own (another one is a 404).'

export async function webhookRoutes(app: App, deps: { webhooks: WebhooksService }) {
  const { webhooks } = deps

  app.post(
    '/webhooks',
    {
      config: { access: adminOrService },
      schema: {
        tags,
        security,
        operationId: 'createWebhook',
        summary: 'Subscribe a URL to events; the signing secret is in this response only',
        description: `${ownerNote} Deliveries are signed as Standard Webhooks; store the secret now.`,
        body: CreateWebhookBody,
        response: {
          201: jsonResponse(CreatedWebhook, {
            description: 'The subscription, with its signing secret',
            headers: LocationHeader('The subscription: /api/v1/webhooks/{id}'),
          }),
          ...problemResponses(400, 401, 403, 422),
        },
      },
    },
    async (request, reply) => {
      const created = await webhooks.create(principalOf(request), request.body)
      reply.header('cache-control', 'no-store')
      reply.header('location', `/api/v1/webhooks/${created.id}`)
      return reply.status(201).send(created)
    },
  )

  app.get(
    '/webhooks',
    {
      config: { access: adminOrService },
      schema: {
        tags,
        security,
        operationId: 'listWebhooks',
        summary: 'Webhook subscriptions, newest first',
        description: `${ownerNote} Paged by limit (default 50, at most 500) and cursor (the nextCursor of the previous page).`,
        querystring: WebhookListQuery,
        response: { 200: WebhookList, ...problemResponses(400, 401, 403) },
      },
    },
    async (request) =>
      webhooks.list(principalOf(request), { limit: request.query.limit ?? 50, cursor: request.query.cursor }),
  )

  app.get(
    '/webhooks/:id',
    {
      config: { access: adminOrService },
      schema: {
        tags,
        security,
        operationId: 'getWebhook',
        summary: 'One webhook subscription',
        description: ownerNote,
        params: WebhookParams,
        response: { 200: Webhook, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => webhooks.get(principalOf(request), request.params.id),
  )

  app.patch(
    '/webhooks/:id',
    {
      config: { access: adminOrService },
      schema: {
        tags,
        security,
        operationId: 'updateWebhook',
        summary: 'Change a subscription; enabled: true resumes a disabled one and its pending deliveries',
        description: `${ownerNote} Fields left out stay as they are; null clears a filter.`,
        params: WebhookParams,
        body: UpdateWebhookBody,
        response: { 200: Webhook, ...problemResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request) => webhooks.update(principalOf(request), request.params.id, request.body),
  )

  app.delete(
    '/webhooks/:id',
    {
      config: { access: adminOrService },
      schema: {
        tags,
        security,
        operationId: 'deleteWebhook',
        summary: 'Delete a subscription; its pending deliveries are cancelled',
        description: ownerNote,
        params: WebhookParams,
        body: NoBody,
        response: { 204: NoContent, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await webhooks.delete(principalOf(request), request.params.id)
      return reply.status(204).send(null)
    },
  )

  app.post(
    '/webhooks/:id/rotate-secret',
    {
      config: { access: adminOrService },
      schema: {
        tags,
        security,
        operationId: 'rotateWebhookSecret',
        summary: 'A new signing secret; the previous one also signs deliveries until previousSecretExpiresAt',
        description: `${ownerNote} The new secret is in this response only.`,
        params: WebhookParams,
        body: RotateSecretBody,
        response: {
          200: jsonResponse(RotatedSecret, { description: 'The new secret' }),
          ...problemResponses(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store')
      return webhooks.rotateSecret(principalOf(request), request.params.id, request.body?.graceSeconds)
    },
  )

  app.get(
    '/webhooks/:id/deliveries',
    {
      config: { access: adminOrService },
      schema: {
        tags,
        security,
        operationId: 'listWebhookDeliveries',
        summary: "The subscription's delivery log, newest first",
        description: `${ownerNote} Paged by limit (default 50, at most 500) and cursor; status narrows it.`,
        params: WebhookParams,
        querystring: DeliveryListQuery,
        response: { 200: DeliveryList, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) =>
      webhooks.listDeliveries(principalOf(request), request.params.id, {
        status: request.query.status,
        limit: request.query.limit ?? 50,
        cursor: request.query.cursor,
      }),
  )

  app.get(
    '/webhooks/:id/deliveries/:deliveryId',
    {
      config: { access: adminOrService },
      schema: {
        tags,
        security,
        operationId: 'getWebhookDelivery',
        summary: 'One delivery, with the body as sent and the start of the last response',
        description: ownerNote,
        params: DeliveryParams,
        response: { 200: DeliveryDetail, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) =>
      webhooks.getDelivery(principalOf(request), request.params.id, request.params.deliveryId),
  )

  app.post(
    '/webhooks/:id/deliveries/:deliveryId/replay',
    {
      config: { access: adminOrService },
      schema: {
        tags,
        security,
        operationId: 'replayWebhookDelivery',
        summary: 'Send a delivery again now, with a fresh retry schedule (same webhook-id)',
        description: `${ownerNote} Receivers deduplicate by webhook-id, so a replay is safe to repeat.`,
        params: DeliveryParams,
        body: NoBody,
        response: {
          202: jsonResponse(Type.Object({}), { description: 'The delivery is pending again' }),
          ...problemResponses(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      await webhooks.replayDelivery(principalOf(request), request.params.id, request.params.deliveryId)
      return reply.status(202).send({})
    },
  )

  app.post(
    '/webhooks/:id/replay',
    {
      config: { access: adminOrService },
      schema: {
        tags,
        security,
        operationId: 'replayWebhookEvents',
        summary: 'Deliver again every kept event in [from, to) that the subscription wants',
        description:
          `${ownerNote} Events are kept in the outbox for OUTBOX_RETENTION_HOURS; events the subscription never had ` +
          '(it was disabled, or filtered otherwise) get a delivery, the others go back to pending.',
        params: WebhookParams,
        body: ReplayRangeBody,
        response: {
          202: jsonResponse(ReplayAccepted, { description: 'How many deliveries are pending again' }),
          ...problemResponses(400, 401, 403, 404, 422),
        },
      },
    },
    async (request, reply) => {
      const deliveries = await webhooks.replayRange(principalOf(request), request.params.id, request.body)
      return reply.status(202).send({ deliveries })
    },
  )
}
