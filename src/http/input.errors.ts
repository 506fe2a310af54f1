import { defineError } from '../errors.js'

/** One failure of a request part, shaped like a schema validation error so clients read both alike. */
export interface InputIssue {
  instancePath: string
  keyword: string
  params: Record<string, unknown>
  message: string
}

export const LimitExceeded = defineError<{ detail: string; errors: InputIssue[] }>({
  code: 'limit_exceeded',
  status: 422,
  title: 'Input exceeds a documented limit',
  detail: (p) => p.detail,
  members: ['errors'],
})

export const ForbiddenCharacter = defineError<{ detail: string; errors: InputIssue[] }>({
  code: 'forbidden_character',
  status: 422,
  title: 'Input contains a forbidden character',
  detail: (p) => p.detail,
  members: ['errors'],
})

export const MalformedUrl = defineError({
  code: 'malformed_url',
  status: 400,
  title: 'The URL cannot be decoded',
  detail: 'The request URL holds an invalid percent-encoding',
})

export const UriTooLong = defineError<{ maxLength: number }>({
  code: 'uri_too_long',
  status: 414,
  title: 'A path segment is too long',
  detail: (p) => `A path parameter is longer than ${p.maxLength} characters`,
  members: ['maxLength'],
})

export const MalformedRequest = defineError({
  code: 'malformed_request',
  status: 400,
  title: 'The HTTP request cannot be parsed',
  detail: 'The request is not valid HTTP/1.1',
})

export const HeadersTooLarge = defineError({
  code: 'headers_too_large',
  status: 431,
  title: 'Request headers too large',
  detail: 'The request headers exceed the size limit',
})

export const RequestTimeout = defineError({
  code: 'request_timeout',
  status: 408,
  title: 'Request timeout',
  detail: 'The request was not received in time',
})
