/** A script's or schedule's `notifications` list: which channels hear of which events. */
import { EVENTS, type NotificationEvent, type Subscription } from '@/api/notifications'

const ORDER = EVENTS.map((e) => e.value)

/** The events in the pickers' order, each once (so a toggle back and forth leaves no "unsaved change"). */
export function normalizeEvents(on: readonly NotificationEvent[]): NotificationEvent[] {
  return ORDER.filter((event) => on.includes(event))
}

/** A copy of the list as the forms hold it (events in order). */
export function copySubscriptions(list: readonly Subscription[] | null | undefined): Subscription[] {
  return (list || []).map((s) => ({ channel_id: s.channel_id, on: normalizeEvents(s.on) }))
}

/** Adds a channel (on failure, the event most want) unless it is listed already. */
export function addSubscription(list: readonly Subscription[], channelId: number): Subscription[] {
  if (list.some((s) => s.channel_id === channelId)) return [...list]
  return [...list, { channel_id: channelId, on: ['failure'] }]
}

export function setEvents(list: readonly Subscription[], channelId: number, on: NotificationEvent[]): Subscription[] {
  return list.map((s) => (s.channel_id === channelId ? { ...s, on: normalizeEvents(on) } : s))
}

export function removeSubscription(list: readonly Subscription[], channelId: number): Subscription[] {
  return list.filter((s) => s.channel_id !== channelId)
}

/** A subscription without events would be refused: say so at its row (`notifications.<i>.on`). */
export function subscriptionProblems(list: readonly Subscription[], field = 'notifications'): Record<string, string> {
  const errors: Record<string, string> = {}
  list.forEach((s, index) => {
    if (!s.on.length) errors[`${field}.${index}.on`] = 'Pick at least one event, or remove the channel'
  })
  return errors
}

/** The first message among `errors` for `field` or anything under it (`on_success.2` for `on_success`). */
export function errorUnder(errors: Record<string, string | undefined>, field: string): string | undefined {
  for (const [key, message] of Object.entries(errors)) {
    if (message && (key === field || key.startsWith(`${field}.`))) return message
  }
  return undefined
}
