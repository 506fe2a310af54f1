/** How a downloaded file's body is handed over: whole (Blob, text) or as it arrives (stream). */
export type DownloadAs = 'blob' | 'text' | 'stream' | 'arrayBuffer'

export type DownloadBody<As> = As extends 'text'
  ? string
  : As extends 'stream'
    ? ReadableStream<Uint8Array> | null
    : As extends 'arrayBuffer'
      ? ArrayBuffer
      : Blob

/** A file answer (a statement's CSV or PDF, a job's file), with what a browser needs to save it. */
export interface DownloadedFile<Body> {
  body: Body
  /** From Content-Disposition; null when the server named none. */
  filename: string | null
  contentType: string | null
  /** Content-Length in bytes; null when the answer is chunked. */
  size: number | null
  /** ETag, for If-None-Match on a later download. */
  etag: string | null
  response: Response
}

/** The file name of a Content-Disposition header: `filename*` (RFC 6266, UTF-8) first, then `filename`. */
export function filenameOfContentDisposition(header: string | null): string | null {
  if (header === null) return null
  const extended = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header)
  if (extended?.[2] !== undefined) {
    try {
      return decodeURIComponent(extended[2].trim())
    } catch {
      // A malformed percent-encoding: fall back to the plain filename parameter below.
    }
  }
  const quoted = /filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(header)
  if (quoted?.[1] !== undefined) return quoted[1].replace(/\\(.)/g, '$1')
  const bare = /filename\s*=\s*([^;\s]+)/i.exec(header)
  return bare?.[1] ?? null
}

export async function readBody<As extends DownloadAs>(response: Response, as: As): Promise<DownloadBody<As>> {
  switch (as) {
    case 'text':
      return (await response.text()) as DownloadBody<As>
    case 'stream':
      return response.body as DownloadBody<As>
    case 'arrayBuffer':
      return (await response.arrayBuffer()) as DownloadBody<As>
    default:
      return (await response.blob()) as DownloadBody<As>
  }
}

export function downloadedFile<Body>(response: Response, body: Body): DownloadedFile<Body> {
  const length = response.headers.get('content-length')
  return {
    body,
    filename: filenameOfContentDisposition(response.headers.get('content-disposition')),
    contentType: response.headers.get('content-type'),
    size: length === null ? null : Number(length),
    etag: response.headers.get('etag'),
    response,
  }
}
