import { defineError } from './errors.js'

/** Every paged list of the API (wallet history, API keys) rejects a cursor it did not issue alike. */
export const InvalidCursor = defineError({
  code: 'invalid_cursor',
  status: 400,
  title: 'Invalid cursor',
  detail: 'The cursor is not one this API issued; start again without it',
})
