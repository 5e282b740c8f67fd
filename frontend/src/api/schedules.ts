import { http, request, type Page, type Query } from './http'

/** Schedules API (`/api/schedules`): CRUD, toggle, run-now, fire history and the cron preview. */

export type OverlapPolicy = 'skip' | 'queue' | 'parallel'
export type FireOutcome = 'started' | 'queued' | 'skipped' | 'missed' | 'failed'
export type ParamValues = Record<string, unknown>

export interface Schedule {
  id: number
  name: string
  script_id: number
  script_name: string | null
  cron: string
  timezone: string
  /** Secret values come back as `***`; sending `***` back means "unchanged". */
  params: ParamValues
  enabled: boolean
  overlap_policy: OverlapPolicy
  misfire_grace_seconds: number
  last_run_at: string | null
  last_status: string | null
  next_run_at: string | null
  created_at: string
  updated_at: string
}

/** The body of create / replace; `timezone` null or '' = the server's default zone. */
export interface ScheduleInput {
  name: string
  script_id: number
  cron: string
  timezone: string | null
  params: ParamValues
  enabled: boolean
  overlap_policy: OverlapPolicy
  misfire_grace_seconds: number
}

export interface Fire {
  id: number
  schedule_id: number
  scheduled_for: string
  fired_at: string
  outcome: FireOutcome
  execution_id: number | null
  detail: string | null
}

export interface CronPreview {
  cron: string
  /** The expression croniter evaluates (macros expanded). */
  fields: string
  has_seconds: boolean
  /** The zone the times are in: the one asked for, or the server's default. */
  timezone: string
  /** ISO 8601 with the zone's offset. */
  times: string[]
}

/** The part of an execution a run-now answer is used for (full shape: backend execution_json). */
export interface QueuedExecution {
  id: number
  script_id: number
  status: string
}

export interface ListSchedulesQuery {
  script_id?: number
  enabled?: boolean
  q?: string
  page?: number
  per_page?: number
}

export const SECRET_MASK = '***'

const base = '/api/schedules'

export const listSchedules = (query: ListSchedulesQuery = {}) => http.get<Page<Schedule>>(base, query as Query)
export const getSchedule = (id: number | string) => http.get<Schedule>(`${base}/${id}`)
export const createSchedule = (body: ScheduleInput) => http.post<Schedule>(base, body)
export const replaceSchedule = (id: number | string, body: ScheduleInput) => http.put<Schedule>(`${base}/${id}`, body)
export const patchSchedule = (id: number | string, changes: Partial<ScheduleInput>) =>
  http.patch<Schedule>(`${base}/${id}`, changes)
export const deleteSchedule = (id: number | string) => http.delete(`${base}/${id}`)
export const toggleSchedule = (id: number | string) => http.post<Schedule>(`${base}/${id}/toggle`)
/** Queues a run with the schedule's params (answers 202 with the execution). */
export const runScheduleNow = (id: number | string) => http.post<QueuedExecution>(`${base}/${id}/run-now`)

export const listFires = (
  id: number | string,
  query: { outcome?: FireOutcome | ''; page?: number; per_page?: number } = {},
) => http.get<Page<Fire>>(`${base}/${id}/fires`, query as Query)

/** Next fire times; throws a ProblemError (422, `detail` says why) for a bad expression or zone. */
export const previewCron = (cron: string, timezone?: string | null, count = 5, signal?: AbortSignal) =>
  request<CronPreview>(`${base}/preview`, { query: { cron, timezone: timezone || undefined, count }, signal })

/** What the schedule editor needs of a script: its name and parameter definitions. */
export interface ParameterDefinition {
  name: string
  type: 'string' | 'integer' | 'number' | 'boolean' | 'choice' | 'json' | 'secret' | 'file'
  description?: string
  default?: unknown
  required?: boolean
  choices?: (string | number | boolean)[] | null
}

export interface ScriptOption {
  id: number
  name: string
  language: string
  folder: string
  enabled: boolean
  parameters: ParameterDefinition[]
}

export const listScriptOptions = (q?: string) =>
  http.get<Page<ScriptOption>>('/api/scripts', { per_page: 100, q: q || undefined })

export const getScriptOption = (id: number) => http.get<ScriptOption>(`/api/scripts/${id}`)
