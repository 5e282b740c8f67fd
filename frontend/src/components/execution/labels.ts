/** Display names for execution triggers and statuses. */
import type { ExecutionTrigger } from '@/api/executions'
import { statusLabel } from '@/utils/format'

/** Where a run came from, in the words of someone who did not write the API: "manual" means the web app. */
const TRIGGER_LABELS: Record<ExecutionTrigger, string> = {
  manual: 'Web app',
  api: 'API (token)',
  cli: 'Command line',
  schedule: 'Schedule',
  retry: 'Retry',
  rerun: 'Re-run',
  webhook: 'Webhook',
  chain: 'Chain',
}

export function triggerLabel(trigger: string): string {
  return TRIGGER_LABELS[trigger as ExecutionTrigger] ?? trigger
}

export function statusText(status: string): string {
  const text = statusLabel(status)
  return text.charAt(0).toUpperCase() + text.slice(1)
}
