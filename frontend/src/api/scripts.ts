/** Scripts API (`/api/scripts`): CRUD, versions, diff, rollback and starting a run. */
import { http, request, type Page } from './http'
import type { Execution } from './executions'
import type { GetQuery, Schemas } from './types'

export type Language = Schemas['ScriptOut']['language']
/** A parameter definition as the API accepts it: the fields left out take their defaults. */
export type ParameterDefinitionInput = Schemas['ParameterDefinition']
/** A parameter as a script stores it: the server fills in every field. */
export type ParameterDefinition = Required<ParameterDefinitionInput>
export type ParamType = ParameterDefinition['type']
export type ChoiceValue = NonNullable<ParameterDefinition['choices']>[number]
export type ConcurrencyPolicy = Schemas['ScriptOut']['concurrency_policy']
/** Every limit, null for the server's default. */
export type ScriptLimits = Required<Schemas['ScriptLimits']>

/**
 * A script as the API answers it. The document types the answer's `parameters` and `limits`
 * loosely (open objects): they are what the script was saved with.
 */
export type Script = Omit<Schemas['ScriptOut'], 'parameters' | 'limits'> & {
  parameters: ParameterDefinition[]
  limits: ScriptLimits
}

/**
 * The fields a client writes (create, replace). `run_as_user`: only an admin may set or change
 * it (403 otherwise); left out of a PUT, it stays as it is.
 */
export type ScriptInput = Schemas['ScriptCreate']

/** `author`: who saved the version (null for versions from before authors were recorded). */
export type VersionSummary = Schemas['VersionSummary']
export type Version = Omit<Schemas['VersionOut'], 'parameters'> & { parameters: ParameterDefinition[] }
export type Diff = Schemas['DiffOut']

/** What a script picker needs: names, and the parameters of the one picked. */
export type ScriptOption = Pick<Script, 'id' | 'name' | 'language' | 'folder' | 'enabled' | 'parameters'>

/** A save carries the version (and revision) it was based on, so a stale edit gets a 409. */
export interface SaveGuard {
  version?: number
  revision?: number
  message?: string
}

const base = '/api/scripts'

export const listScripts = (query: GetQuery<'/api/scripts'> = {}) =>
  http.get<Page<Script>>(base, query)

/** The first 100 scripts, for a picker (the history's filter, a schedule's script). */
export async function listScriptOptions(): Promise<ScriptOption[]> {
  return (await listScripts({ per_page: 100 })).items
}

export const getScript = (id: number | string) => http.get<Script>(`${base}/${id}`)

export const createScript = (input: ScriptInput) => http.post<Script>(base, input)

function guardHeaders(guard: SaveGuard): Record<string, string> | undefined {
  return guard.revision ? { 'If-Match': `"${guard.revision}"` } : undefined
}

function guardBody(guard: SaveGuard): Pick<Schemas['ScriptReplace'], 'version' | 'message'> {
  const body: Pick<Schemas['ScriptReplace'], 'version' | 'message'> = {}
  if (guard.version) body.version = guard.version
  if (guard.message) body.message = guard.message
  return body
}

/** PUT: the whole script. */
export const replaceScript = (id: number | string, input: ScriptInput, guard: SaveGuard = {}) =>
  request<Script>(`${base}/${id}`, {
    method: 'PUT',
    json: { ...input, ...guardBody(guard) } satisfies Schemas['ScriptReplace'],
    headers: guardHeaders(guard),
  })

/** PATCH: only the fields given. */
export const updateScript = (id: number | string, changes: Schemas['ScriptPatch'], guard: SaveGuard = {}) =>
  request<Script>(`${base}/${id}`, {
    method: 'PATCH',
    json: { ...changes, ...guardBody(guard) } satisfies Schemas['ScriptPatch'],
    headers: guardHeaders(guard),
  })

export const deleteScript = (id: number | string) => http.delete(`${base}/${id}`)

/**
 * A copy of the script's current version (code, parameters, dependencies, settings) as a new
 * script; the server names it "<name> (copy)" unless `name` is given.
 */
export const duplicateScript = (id: number | string, name?: string) =>
  http.post<Script>(`${base}/${id}/duplicate`, (name ? { name } : {}) satisfies Schemas['ScriptDuplicate'])

export const listVersions = (id: number | string) => http.get<Schemas['VersionList']>(`${base}/${id}/versions`)

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
  /** Run this saved version instead of the current one. */
  version?: number | null
}

/**
 * Starts a run. JSON when there are no files; otherwise multipart with a `params` JSON field,
 * each `file` parameter's file in a field named like the parameter, extra files under `extra-files`
 * (a name no parameter can have, so an extra file never fills a `file` parameter by accident).
 */
export function executeScript(id: number | string, input: ExecuteInput): Promise<Execution> {
  const paramFiles = Object.entries(input.paramFiles || {})
  const extra = input.extraFiles || []
  const path = `${base}/${id}/execute`
  const version = input.version ?? null
  if (!paramFiles.length && !extra.length) {
    return http.post<Execution>(path, version === null ? { params: input.params } : { params: input.params, version })
  }
  const form = new FormData()
  form.append('params', JSON.stringify(input.params))
  if (version !== null) form.append('version', String(version))
  for (const [name, file] of paramFiles) form.append(name, file, file.name)
  for (const file of extra) form.append('extra-files', file, file.name)
  return http.upload<Execution>(path, form)
}

export interface RerunInput {
  /** Only the values that differ from the original run's; the rest (and uploaded files) are kept. */
  params: Record<string, unknown>
  /** Run the script's current version instead of the one the original run used. */
  latest?: boolean
}

/**
 * The run dialog's rerun: `POST /api/executions/<id>/rerun` with the changed values. (The plain
 * "run again" button of the run page uses `rerunExecution` in executions.ts.)
 */
export function rerunWithChanges(executionId: number, input: RerunInput): Promise<Execution> {
  return http.post<Execution>(`/api/executions/${executionId}/rerun`, { params: input.params }, input.latest ? { latest: true } : undefined)
}
