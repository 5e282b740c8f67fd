/** Display names for execution triggers and statuses. */
import type { ExecutionTrigger } from '@/api/executions'
import { statusLabel } from '@/utils/format'

const TRIGGER_LABELS: Record<ExecutionTrigger, string> = {
  manual: 'Manual',
  schedule: 'Schedule',
  webhook: 'Webhook',
  retry: 'Retry',
  rerun: 'Re-run',
  api: 'API',
}

export function triggerLabel(trigger: string): string {
  return TRIGGER_LABELS[trigger as ExecutionTrigger] ?? trigger
}

export function statusText(status: string): string {
  const text = statusLabel(status)
  return text.charAt(0).toUpperCase() + text.slice(1)
}
