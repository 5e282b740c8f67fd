/** Executions: history, detail, cancel/rerun/delete, the log (paged, text, live) and workspace files. */
import { buildUrl, http, request } from './http'
import type { Blankable, GetQuery, Schemas } from './types'

export type Execution = Schemas['ExecutionOut']
export type ExecutionStatus = Execution['status']
export type ExecutionTrigger = Execution['trigger']
/** One log record; `offset` is the byte offset where it starts in the log file. */
export type LogRecord = Schemas['LogRecord']
/** Records from an offset: `next_offset` is where the next page starts, `complete` once the run ended and all was read. */
export type LogPage = Schemas['LogPage']
export type FileEntry = Schemas['FileEntry']
/** A run that this run's end started (its script's on_success / on_failure). */
export type DownstreamRun = Schemas['DownstreamRunOut']
/** One notification this run sent or is sending: channel, event, status, attempts, last error. */
export type Delivery = Schemas['DeliveryOut']
/** The history's filters (blank ones are left out). */
export type ExecutionQuery = Blankable<GetQuery<'/api/executions'>>

export const EXECUTION_STATUSES: ExecutionStatus[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'timed_out',
  'cancelled',
  'interrupted',
]
/** The triggers the history filters on: every value of the API's enum. */
export const EXECUTION_TRIGGERS: ExecutionTrigger[] = ['manual', 'api', 'cli', 'schedule', 'webhook', 'chain', 'retry', 'rerun']

const base = (id: number) => `/api/executions/${id}`

export const listExecutions = (query: ExecutionQuery = {}) => http.get<Schemas['ExecutionList']>('/api/executions', query)

export const getExecution = (id: number) => http.get<Execution>(base(id))
export const deleteExecution = (id: number) => http.delete(base(id))
export const cancelExecution = (id: number) => http.post<Execution>(`${base(id)}/cancel`)

/**
 * Runs again with the same parameters (those in `params` replace the original values); the same
 * version unless `latest`. Answers the new execution.
 */
export function rerunExecution(id: number, latest = false, params?: Record<string, unknown>): Promise<Execution> {
  return http.post<Execution>(`${base(id)}/rerun`, params ? { params } : undefined, latest ? { latest: true } : undefined)
}

/** The notifications this run sent (or is still sending), oldest first. */
export async function listNotifications(id: number): Promise<Delivery[]> {
  return (await http.get<Schemas['DeliveryList']>(`${base(id)}/notifications`)).items
}

/** Every attempt of the retry series that contains execution `id` (the first and its retries), by attempt. */
export async function listAttempts(id: number): Promise<Execution[]> {
  const page = await http.get<Schemas['ExecutionList']>('/api/executions', { attempts_of: id, per_page: 100 })
  return page.items
}

/** A log filter: one stream (the API's names) and/or `scriptman.log` lines of this level or above. */
export type LogStreamFilter = 'stdout' | 'stderr' | 'sys'
export type LogLevel = 'debug' | 'info' | 'warning' | 'error'
export interface LogFilters {
  stream?: LogStreamFilter | null
  level?: LogLevel | null
}
export const LOG_LEVELS: LogLevel[] = ['debug', 'info', 'warning', 'error']

/**
 * Up to `limit` (≤ 10 000) records starting at byte `offset` (a record boundary: 0 or a `next_offset`).
 * With filters the page holds only matching records; `next_offset` is where the scan stopped.
 */
export function getLogPage(id: number, offset = 0, limit = 1000, signal?: AbortSignal, filters: LogFilters = {}): Promise<LogPage> {
  return request<LogPage>(`${base(id)}/logs`, {
    query: { offset, limit, stream: filters.stream || undefined, level: filters.level || undefined },
    signal,
  })
}

/** Matches of a case-insensitive search across the whole log, in log order (`truncated`: more than `limit`). */
export type LogSearch = Schemas['LogSearchResult']

/** Searches the whole log on the server (with the same filters as the view), at most `limit` (≤ 5000) matches. */
export function searchLog(id: number, q: string, filters: LogFilters = {}, limit = 5000, signal?: AbortSignal): Promise<LogSearch> {
  return request<LogSearch>(`${base(id)}/logs/search`, {
    query: { q, limit, stream: filters.stream || undefined, level: filters.level || undefined },
    signal,
  })
}

/** The whole log as plain text (an attachment). */
export const logTextUrl = (id: number) => buildUrl(`${base(id)}/logs`, { format: 'text' })

/** The SSE path (for `openEventSource`). */
export const streamPath = (id: number) => `${base(id)}/logs/stream`

export async function listFiles(id: number): Promise<FileEntry[]> {
  const page = await http.get<Schemas['FileList']>(`${base(id)}/files`)
  return page.items
}

/** A workspace file: inline (safe types) or as an attachment with `download`. */
export function fileUrl(id: number, path: string, download = false): string {
  const encoded = path.split('/').map(encodeURIComponent).join('/')
  return buildUrl(`${base(id)}/files/${encoded}`, { download: download ? 1 : undefined })
}

export const archiveUrl = (id: number) => `${base(id)}/archive`

export interface FileText {
  text: string
  /** only the first `maxBytes` were fetched */
  truncated: boolean
}

/**
 * A workspace file's content as text for the preview, at most `maxBytes` of it: larger files are
 * asked for with a Range header. A JSON file comes back parsed from the API layer and is
 * re-serialised pretty.
 */
export async function fetchFileText(id: number, entry: FileEntry, maxBytes = 1 << 20): Promise<FileText> {
  const partial = entry.size > maxBytes
  // The server may ignore Range (then the whole body comes): do not preview what is far too big.
  if (entry.size > maxBytes * 8) throw new Error('This file is too large to preview; download it instead.')
  if (partial && /\.json$/i.test(entry.path)) {
    // served as application/json: a cut body would not parse
    throw new Error(`This JSON file is larger than ${Math.round(maxBytes / 1024)} KB; download it instead.`)
  }
  const headers: Record<string, string> = { Accept: '*/*' }
  if (partial) headers.Range = `bytes=0-${maxBytes - 1}`
  const body = await request<unknown>(fileUrl(id, entry.path), { headers })
  if (typeof body === 'string') {
    return { text: body.length > maxBytes ? body.slice(0, maxBytes) : body, truncated: partial || body.length > maxBytes }
  }
  return { text: body === null ? '' : JSON.stringify(body, null, 2), truncated: false }
}
