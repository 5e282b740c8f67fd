/** Small display helpers shared by every page. */

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—'
  if (ms < 1000) return `${ms} ms`
  const seconds = ms / 1000
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '—'
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—'
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return date.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  })
}

/** "3 min ago" / "in 2 h" for a timestamp, relative to `now`. */
export function formatRelative(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '—'
  const then = new Date(iso).getTime()
  if (Number.isNaN(then)) return iso
  const diff = Math.round((then - now) / 1000)
  const abs = Math.abs(diff)
  const [value, unit] =
    abs < 60 ? [abs, 's'] : abs < 3600 ? [Math.round(abs / 60), 'min'] : abs < 86400 ? [Math.round(abs / 3600), 'h'] : [Math.round(abs / 86400), 'd']
  if (abs < 5) return 'just now'
  return diff < 0 ? `${value} ${unit} ago` : `in ${value} ${unit}`
}

const FINAL_STATUSES = ['succeeded', 'failed', 'timed_out', 'cancelled', 'interrupted'] as const

export function isFinal(status: string): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(status)
}

export type TagType = 'success' | 'danger' | 'warning' | 'info' | 'primary'

export function statusType(status: string | null | undefined): TagType {
  switch (status) {
    case 'succeeded':
    case 'started':
      return 'success'
    case 'failed':
    case 'timed_out':
      return 'danger'
    case 'running':
      return 'primary'
    case 'cancelled':
    case 'interrupted':
    case 'skipped':
    case 'missed':
      return 'warning'
    default:
      return 'info'
  }
}

export function statusLabel(status: string | null | undefined): string {
  if (!status) return 'never run'
  return status.replace(/_/g, ' ')
}
