import { Type } from 'typebox'
import { principalOf } from '../auth/access.js'
import type { App } from '../http/app-type.js'
import { NoBody } from '../http/input.schemas.js'
import { problemResponses } from '../http/problem.schemas.js'
import { security } from '../http/route-conventions.js'
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
        summary: 'Subscribe a URL to events; the signing secret is in this response only',
        description: ownerNote,
        body: CreateWebhookBody,
        response: { 201: CreatedWebhook, ...problemResponses(400, 401, 403, 422) },
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
        summary: 'Webhook subscriptions, newest first',
        description: ownerNote,
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
        summary: 'One webhook subscription',
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
        summary: 'Change a subscription; enabled: true resumes a disabled one and its pending deliveries',
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
        summary: 'Delete a subscription; its pending deliveries are cancelled',
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
        summary: 'A new signing secret; the previous one also signs deliveries until previousSecretExpiresAt',
        params: WebhookParams,
        body: RotateSecretBody,
        response: { 200: RotatedSecret, ...problemResponses(400, 401, 403, 404) },
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
        summary: "The subscription's delivery log, newest first",
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
        summary: 'One delivery, with the body as sent and the start of the last response',
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
        summary: 'Send a delivery again now, with a fresh retry schedule (same webhook-id)',
        params: DeliveryParams,
        body: NoBody,
        response: { 202: Type.Object({}), ...problemResponses(400, 401, 403, 404) },
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
        summary: 'Deliver again every kept event in [from, to) that the subscription wants',
        description:
          'Events are kept in the outbox for OUTBOX_RETENTION_HOURS; events the subscription never had ' +
          '(it was disabled, or filtered otherwise) get a delivery, the others go back to pending.',
        params: WebhookParams,
        body: ReplayRangeBody,
        response: { 202: ReplayAccepted, ...problemResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const deliveries = await webhooks.replayRange(principalOf(request), request.params.id, request.body)
      return reply.status(202).send({ deliveries })
    },
  )
}
