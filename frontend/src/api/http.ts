/**
 * The one place that talks HTTP: JSON in and out, the CSRF header for cookie sessions,
 * RFC 9457 problem bodies turned into a typed error, and the 401 hook that sends the user to login.
 */

export interface Problem {
  type?: string
  title: string
  status: number
  detail?: string
  field?: string | null
}

/** An API error; `field` names the offending input when the server said which one. */
export class ProblemError extends Error {
  readonly status: number
  readonly title: string
  readonly detail: string
  readonly field: string | null

  constructor(problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`)
    this.name = 'ProblemError'
    this.status = problem.status
    this.title = problem.title
    this.detail = problem.detail || ''
    this.field = problem.field ?? null
  }
}

let csrfToken: string | null = null
let onUnauthorized: (() => void) | null = null

export function setCsrfToken(token: string | null): void {
  csrfToken = token
}

export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler
}

export type Query = Record<string, string | number | boolean | null | undefined>

/** `/api/x` plus the query parameters that have a value. */
export function buildUrl(path: string, query?: Query): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value))
  }
  const qs = params.toString()
  return qs ? `${path}?${qs}` : path
}

async function toProblem(response: Response): Promise<ProblemError> {
  let body: Partial<Problem> = {}
  try {
    body = await response.json()
  } catch {
    // not JSON (a proxy's error page, say): keep the status line
  }
  return new ProblemError({
    title: body.title || response.statusText || 'Request failed',
    status: response.status,
    detail: body.detail || (response.status >= 500 ? 'The server had a problem; try again.' : ''),
    field: body.field ?? null,
  })
}

export interface RequestOptions {
  method?: string
  query?: Query
  json?: unknown
  form?: FormData
  headers?: Record<string, string>
  signal?: AbortSignal
}

/** Sends a request and returns the parsed JSON body (or null for 204). Throws ProblemError. */
export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method || 'GET'
  const headers: Record<string, string> = { Accept: 'application/json', ...(options.headers || {}) }
  let body: BodyInit | undefined
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(options.json)
  } else if (options.form) {
    body = options.form
  }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken
  let response: Response
  try {
    response = await fetch(buildUrl(path, options.query), {
      method,
      headers,
      body,
      credentials: 'same-origin',
      signal: options.signal,
    })
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error
    throw new ProblemError({ title: 'Network error', status: 0, detail: 'Cannot reach the Scriptman server.' })
  }
  if (!response.ok) {
    const problem = await toProblem(response)
    if (problem.status === 401 && onUnauthorized && !path.startsWith('/api/auth/login')) onUnauthorized()
    throw problem
  }
  if (response.status === 204) return null as T
  const type = response.headers.get('Content-Type') || ''
  if (type.includes('json')) return (await response.json()) as T
  return (await response.text()) as unknown as T
}

export const http = {
  get: <T>(path: string, query?: Query) => request<T>(path, { query }),
  post: <T>(path: string, json?: unknown, query?: Query) => request<T>(path, { method: 'POST', json, query }),
  put: <T>(path: string, json: unknown) => request<T>(path, { method: 'PUT', json }),
  patch: <T>(path: string, json: unknown) => request<T>(path, { method: 'PATCH', json }),
  delete: <T = null>(path: string) => request<T>(path, { method: 'DELETE' }),
  upload: <T>(path: string, form: FormData) => request<T>(path, { method: 'POST', form }),
}

/** Lists are always `{items, total}` on this API. */
export interface Page<T> {
  items: T[]
  total: number
  page?: number
  per_page?: number
}

/**
 * Opens a Server-Sent Events stream on the same origin (the session cookie authenticates it;
 * no token ever goes in a URL). The caller closes it; browsers allow ~6 connections per origin.
 */
export function openEventSource(path: string, query?: Query): EventSource {
  return new EventSource(buildUrl(path, query), { withCredentials: true })
}

/** A human sentence for any error a call may throw. */
export function errorMessage(error: unknown): string {
  if (error instanceof ProblemError) {
    const text = error.detail || error.title
    return error.field && !text.includes(error.field) ? `${error.field}: ${text}` : text
  }
  if (error instanceof Error) return error.message
  return String(error)
}
