/** Schedules API (`/api/schedules`): CRUD, toggle, run-now, fire history and the cron preview. */
import { http, request } from './http'
import type { Execution } from './executions'
import type { Blankable, GetQuery, Schemas } from './types'

/** Secret values come back as `***` (SECRET_MASK); sending `***` back means "unchanged". */
export type Schedule = Schemas['ScheduleOut']
export type OverlapPolicy = Schedule['overlap_policy']
export type ParamValues = Schedule['params']
/** The body of create / replace; `timezone` null or '' = the server's default zone. */
export type ScheduleInput = Schemas['ScheduleCreate']
export type Fire = Schemas['FireOut']
export type FireOutcome = Fire['outcome']
/** Next fire times (ISO 8601 with the zone's offset) in the zone asked for, or the server's default. */
export type CronPreview = Schemas['PreviewOut']

const base = '/api/schedules'

export const listSchedules = (query: GetQuery<'/api/schedules'> = {}) => http.get<Schemas['ScheduleList']>(base, query)
export const getSchedule = (id: number | string) => http.get<Schedule>(`${base}/${id}`)
export const createSchedule = (body: ScheduleInput) => http.post<Schedule>(base, body)
export const replaceSchedule = (id: number | string, body: Schemas['ScheduleReplace']) =>
  http.put<Schedule>(`${base}/${id}`, body)
export const patchSchedule = (id: number | string, changes: Schemas['SchedulePatch']) =>
  http.patch<Schedule>(`${base}/${id}`, changes)
export const deleteSchedule = (id: number | string) => http.delete(`${base}/${id}`)
export const toggleSchedule = (id: number | string) => http.post<Schedule>(`${base}/${id}/toggle`)
/** Queues a run with the schedule's params (answers 202 with the execution). */
export const runScheduleNow = (id: number | string) => http.post<Execution>(`${base}/${id}/run-now`)

export const listFires = (id: number | string, query: Blankable<GetQuery<'/api/schedules/{schedule_id}/fires'>> = {}) =>
  http.get<Schemas['FireList']>(`${base}/${id}/fires`, query)

/** Next fire times; throws a ProblemError (422, `detail` says why) for a bad expression or zone. */
export const previewCron = (cron: string, timezone?: string | null, count = 5, signal?: AbortSignal) =>
  request<CronPreview>(`${base}/preview`, { query: { cron, timezone: timezone || undefined, count }, signal })
