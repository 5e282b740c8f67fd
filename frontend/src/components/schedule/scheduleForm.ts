import type { Subscription } from '@/api/notifications'
import type { OverlapPolicy, ParamValues, Schedule, ScheduleInput } from '@/api/schedules'
import { copySubscriptions, subscriptionProblems } from '@/components/notifications/subscriptions'

/** The editable part of a schedule as the form holds it. */
export interface ScheduleFormState {
  name: string
  script_id: number | null
  cron: string
  /** null = the server's default zone. */
  timezone: string | null
  enabled: boolean
  overlap_policy: OverlapPolicy
  misfire_grace_seconds: number
  /** The pinned script version it runs; null = the script's current version when it fires. */
  version: number | null
  /** Which notification channels hear of its runs, on which events. */
  notifications: Subscription[]
}

export const OVERLAP_POLICIES: { value: OverlapPolicy; label: string; help: string }[] = [
  { value: 'skip', label: 'Skip', help: 'No new run while one from this schedule is queued or running; the fire is recorded as skipped.' },
  { value: 'queue', label: 'Queue', help: 'At most one fire waits and starts when the active run ends; further fires are skipped.' },
  { value: 'parallel', label: 'Parallel', help: "Always start a run (the script's own concurrency limit still applies)." },
]

export function emptyScheduleForm(scriptId: number | null = null): ScheduleFormState {
  return {
    name: '',
    script_id: scriptId,
    cron: '0 2 * * *',
    timezone: null,
    enabled: true,
    overlap_policy: 'skip',
    misfire_grace_seconds: 60,
    version: null,
    notifications: [],
  }
}

export function formFromSchedule(schedule: Schedule): ScheduleFormState {
  return {
    name: schedule.name,
    script_id: schedule.script_id,
    cron: schedule.cron,
    timezone: schedule.timezone || null,
    enabled: schedule.enabled,
    overlap_policy: schedule.overlap_policy,
    misfire_grace_seconds: schedule.misfire_grace_seconds,
    // absent in answers from a server before issue 15
    version: schedule.version ?? null,
    notifications: copySubscriptions(schedule.notifications),
  }
}

/** Checks what the server would refuse anyway, so the message sits at the field at once. */
export function validateScheduleForm(state: ScheduleFormState): Record<string, string> {
  const errors: Record<string, string> = {}
  if (!state.name.trim()) errors.name = 'Give the schedule a name.'
  if (!state.script_id) errors.script_id = 'Pick the script to run.'
  if (!state.cron.trim()) errors.cron = 'Enter a cron expression or pick a preset.'
  const grace = state.misfire_grace_seconds
  if (!Number.isInteger(grace) || grace < 1) errors.misfire_grace_seconds = 'At least 1 second.'
  Object.assign(errors, subscriptionProblems(state.notifications))
  return errors
}

export function toScheduleInput(state: ScheduleFormState, params: ParamValues): ScheduleInput {
  return {
    name: state.name.trim(),
    script_id: state.script_id as number,
    cron: state.cron.trim().replace(/\s+/g, ' '),
    timezone: state.timezone || null,
    params,
    enabled: state.enabled,
    overlap_policy: state.overlap_policy,
    misfire_grace_seconds: state.misfire_grace_seconds,
    version: state.version,
    notifications: copySubscriptions(state.notifications),
  }
}

/** The fields of a server problem the form shows at a field (`notifications.0.channel_id` included). */
export function isScheduleField(field: string): boolean {
  const head = field.split('.')[0]
  return head === 'params' || head === 'notifications' || head in emptyScheduleForm()
}
