/** Words and colours for notification deliveries (the channel history, the test result). */
import type { Delivery, DeliveryStatus } from '@/api/notifications'

export const DELIVERY_STATUS: Record<DeliveryStatus, { label: string; type: 'success' | 'danger' | 'warning' }> = {
  sent: { label: 'sent', type: 'success' },
  failed: { label: 'failed', type: 'danger' },
  pending: { label: 'pending', type: 'warning' },
}

/** One sentence on how a delivery went ("Sent (HTTP 200).", "Failed: connection refused (HTTP 500)."). */
export function deliveryOutcome(delivery: Pick<Delivery, 'status' | 'last_error' | 'response_status'>): string {
  const code = delivery.response_status ? ` (answer ${delivery.response_status})` : ''
  if (delivery.status === 'sent') return `Sent${code}.`
  const why = delivery.last_error ? `: ${delivery.last_error}` : ''
  if (delivery.status === 'pending') return `Not sent yet, will retry${why}${code}.`
  return `Failed${why}${code}.`
}
