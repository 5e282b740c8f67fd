import { http, request, type Page } from './http'

export type Language = 'python' | 'javascript' | 'shell'
export type ParamType = 'string' | 'integer' | 'number' | 'boolean' | 'choice' | 'json' | 'secret' | 'file'
export type ConcurrencyPolicy = 'queue' | 'refuse'
export type ChoiceValue = string | number | boolean

export interface ParameterDefinition {
  name: string
  type: ParamType
  description: string
  default: unknown
  required: boolean
  choices: ChoiceValue[] | null
}

export interface ScriptLimits {
  memory_mb: number | null
  cpu_seconds: number | null
  file_size_mb: number | null
  open_files: number | null
  processes: number | null
}

export interface LastRun {
  id: number
  status: string
  queued_at: string
  finished_at: string | null
}

/** The fields a client writes (create, replace). */
export interface ScriptInput {
  name: string
  language: Language
  description: string
  code: string
  dependencies: string[]
  parameters: ParameterDefinition[]
  tags: string[]
  folder: string
  timeout_seconds: number | null
  max_concurrent: number | null
  concurrency_policy: ConcurrencyPolicy
  max_retries: number
  retry_delay_seconds: number
  enabled: boolean
  limits: Partial<ScriptLimits>
  sandbox_network: boolean
  /**
   * The Unix account the runs use instead of the server's default (null: the default). Only an
   * admin may set or change it (403 otherwise); left out of a PUT, it stays as it is.
   */
  run_as_user?: string | null
}

export interface Script extends ScriptInput {
  id: number
  limits: ScriptLimits
  run_as_user: string | null
  /** Current version number. */
  version: number
  /** Bumped on every change (metadata too); sent as If-Match. */
  revision: number
  created_at: string
  updated_at: string
  last_run?: LastRun | null
}

export interface VersionSummary {
  number: number
  message: string
  created_at: string
  current: boolean
}

export interface Version {
  number: number
  script_id: number
  code: string
  dependencies: string[]
  parameters: ParameterDefinition[]
  message: string
  created_at: string
}

export interface Diff {
  script_id: number
  from_version: number
  to_version: number
  diff: string
}

/** What the execute endpoint answers (the execution; only what this page needs is typed strictly). */
export interface StartedExecution {
  id: number
  script_id: number
  status: string
  version: number
  [key: string]: unknown
}

export interface ScriptListQuery {
  q?: string
  tag?: string
  folder?: string
  page?: number
  per_page?: number
}

/** A save carries the version (and revision) it was based on, so a stale edit gets a 409. */
export interface SaveGuard {
  version?: number
  revision?: number
  message?: string
}

const base = '/api/scripts'

export const listScripts = (query: ScriptListQuery = {}) => http.get<Page<Script>>(base, { ...query })

export const getScript = (id: number | string) => http.get<Script>(`${base}/${id}`)

export const createScript = (input: ScriptInput) => http.post<Script>(base, input)

function guardHeaders(guard: SaveGuard): Record<string, string> | undefined {
  return guard.revision ? { 'If-Match': `"${guard.revision}"` } : undefined
}

function guardBody(guard: SaveGuard): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  if (guard.version) body.version = guard.version
  if (guard.message) body.message = guard.message
  return body
}

/** PUT: the whole script. */
export const replaceScript = (id: number | string, input: ScriptInput, guard: SaveGuard = {}) =>
  request<Script>(`${base}/${id}`, {
    method: 'PUT',
    json: { ...input, ...guardBody(guard) },
    headers: guardHeaders(guard),
  })

/** PATCH: only the fields given. */
export const updateScript = (id: number | string, changes: Partial<ScriptInput>, guard: SaveGuard = {}) =>
  request<Script>(`${base}/${id}`, {
    method: 'PATCH',
    json: { ...changes, ...guardBody(guard) },
    headers: guardHeaders(guard),
  })

export const deleteScript = (id: number | string) => http.delete(`${base}/${id}`)

export const listVersions = (id: number | string) => http.get<Page<VersionSummary>>(`${base}/${id}/versions`)

export const getVersion = (id: number | string, number: number) =>
  http.get<Version>(`${base}/${id}/versions/${number}`)

export const diffVersions = (id: number | string, from: number, to: number) =>
  http.get<Diff>(`${base}/${id}/diff`, { from, to })

export const rollback = (id: number | string, number: number) =>
  http.post<Script>(`${base}/${id}/rollback/${number}`)

export interface ExecuteInput {
  params: Record<string, unknown>
  /** Files for `file` parameters, keyed by parameter name. */
  paramFiles?: Record<string, File>
  /** Extra files copied into the workspace. */
  extraFiles?: File[]
}

/**
 * Starts a run. JSON when there are no files; otherwise multipart with a `params` JSON field,
 * each `file` parameter's file in a field named like the parameter, extra files under `extra-files`
 * (a name no parameter can have, so an extra file never fills a `file` parameter by accident).
 */
export function executeScript(id: number | string, input: ExecuteInput): Promise<StartedExecution> {
  const paramFiles = Object.entries(input.paramFiles || {})
  const extra = input.extraFiles || []
  const path = `${base}/${id}/execute`
  if (!paramFiles.length && !extra.length) return http.post<StartedExecution>(path, { params: input.params })
  const form = new FormData()
  form.append('params', JSON.stringify(input.params))
  for (const [name, file] of paramFiles) form.append(name, file, file.name)
  for (const file of extra) form.append('extra-files', file, file.name)
  return http.upload<StartedExecution>(path, form)
}
