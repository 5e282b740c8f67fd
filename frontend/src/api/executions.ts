/** Executions: history, detail, cancel/rerun/delete, the log (paged, text, live) and workspace files. */
import { buildUrl, http, request, type Page } from './http'

export type ExecutionStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'timed_out' | 'cancelled' | 'interrupted'
export type ExecutionTrigger = 'manual' | 'schedule' | 'webhook' | 'retry' | 'rerun' | 'api'

export const EXECUTION_STATUSES: ExecutionStatus[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'timed_out',
  'cancelled',
  'interrupted',
]
export const EXECUTION_TRIGGERS: ExecutionTrigger[] = ['manual', 'schedule', 'webhook', 'retry', 'rerun', 'api']

export interface Execution {
  id: number
  script_id: number
  script_name: string | null
  version: number
  trigger: ExecutionTrigger
  params: Record<string, unknown>
  status: ExecutionStatus
  exit_code: number | null
  result: unknown
  error: string | null
  queued_at: string
  started_at: string | null
  finished_at: string | null
  duration_ms: number | null
  peak_memory_kb: number | null
  cpu_time_ms: number | null
  attempt: number
  retry_of_id: number | null
  rerun_of_id: number | null
  schedule_id: number | null
  /** 0–100, from the script's last progress() call */
  progress: number | null
  progress_message: string | null
  sandboxed: boolean
  /** Who started it (the schedule's creator for scheduled runs); null for the command line */
  created_by: string | null
}

export interface ExecutionQuery {
  script_id?: number | null
  status?: ExecutionStatus | '' | null
  trigger?: ExecutionTrigger | '' | null
  page?: number
  per_page?: number
}

export type LogStream = 'out' | 'err' | 'sys' | 'prg'

/** One log record; `offset` is the byte offset where it starts in the log file. */
export interface LogRecord {
  offset: number
  time: string
  stream: LogStream
  text: string
}

export interface LogPage {
  records: LogRecord[]
  offset: number
  /** where the next page starts (the byte just after the last record) */
  next_offset: number
  /** log size in bytes right now */
  size: number
  /** the run ended and every record has been returned */
  complete: boolean
}

export interface FileEntry {
  path: string
  size: number
  modified: string
  is_dir: boolean
  is_symlink: boolean
}

export interface ScriptOption {
  id: number
  name: string
}

const base = (id: number) => `/api/executions/${id}`

export function listExecutions(query: ExecutionQuery = {}): Promise<Page<Execution>> {
  return http.get<Page<Execution>>('/api/executions', {
    script_id: query.script_id,
    status: query.status,
    trigger: query.trigger,
    page: query.page,
    per_page: query.per_page,
  })
}

export const getExecution = (id: number) => http.get<Execution>(base(id))
export const deleteExecution = (id: number) => http.delete(base(id))
export const cancelExecution = (id: number) => http.post<Execution>(`${base(id)}/cancel`)

/** Runs again with the same parameters; the same version unless `latest`. Answers the new execution. */
export function rerunExecution(id: number, latest = false): Promise<Execution> {
  return http.post<Execution>(`${base(id)}/rerun`, undefined, latest ? { latest: true } : undefined)
}

/** Up to `limit` (≤ 10 000) records starting at byte `offset` (a record boundary: 0 or a `next_offset`). */
export function getLogPage(id: number, offset = 0, limit = 1000, signal?: AbortSignal): Promise<LogPage> {
  return request<LogPage>(`${base(id)}/logs`, { query: { offset, limit }, signal })
}

/** The whole log as plain text (an attachment). */
export const logTextUrl = (id: number) => buildUrl(`${base(id)}/logs`, { format: 'text' })

/** The SSE path (for `openEventSource`) and its full URL. */
export const streamPath = (id: number) => `${base(id)}/logs/stream`
export const streamUrl = (id: number, offset?: number) => buildUrl(streamPath(id), { offset })

export async function listFiles(id: number): Promise<FileEntry[]> {
  const page = await http.get<{ items: FileEntry[]; total: number }>(`${base(id)}/files`)
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

/** Scripts for the history filter (names only; the first 100 are enough for a dropdown). */
export async function listScriptOptions(): Promise<ScriptOption[]> {
  const page = await http.get<Page<ScriptOption>>('/api/scripts', { per_page: 100 })
  return page.items.map((s) => ({ id: s.id, name: s.name }))
}
