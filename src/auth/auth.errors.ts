import { defineError } from '../http/errors.js'

export const Unauthorized = defineError<{ detail?: string } | undefined>({
  code: 'unauthorized',
  status: 401,
  title: 'Authentication required',
  detail: (p) => p?.detail ?? 'A valid bearer token or API key is required',
})

export const Forbidden = defineError({
  code: 'forbidden',
  status: 403,
  title: 'Forbidden',
  detail: 'Your role does not allow this operation',
})
