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

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/

/** Whether a text is a calendar day `YYYY-MM-DD` that exists (2026-02-30 does not). */
export function isDay(text: string): boolean {
  const m = DAY.exec(text)
  if (!m) return false
  const date = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]))
  return date.getFullYear() === Number(m[1]) && date.getMonth() === Number(m[2]) - 1 && date.getDate() === Number(m[3])
}

/** A local time as ISO 8601 with the browser's UTC offset ("2026-01-31T00:00:00+01:00"), as the API wants. */
export function isoWithOffset(date: Date): string {
  const pad = (n: number) => String(Math.floor(Math.abs(n))).padStart(2, '0')
  const offset = -date.getTimezoneOffset()
  const sign = offset >= 0 ? '+' : '-'
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `${sign}${pad(offset / 60)}:${pad(offset % 60)}`
  )
}

/**
 * The instants a range of whole local days covers: from the start of `first` up to the start of
 * the day after `last` (so `last` is included). Either end may be missing.
 */
export function dayRange(first: string | null, last: string | null): { since?: string; until?: string } {
  const start = (day: string, plus = 0) => {
    const [y, m, d] = day.split('-').map(Number)
    return isoWithOffset(new Date(y, m - 1, d + plus))
  }
  return {
    since: first && isDay(first) ? start(first) : undefined,
    until: last && isDay(last) ? start(last, 1) : undefined,
  }
}

/** Today as `YYYY-MM-DD` in the browser's zone (or the day `back` days earlier). */
export function localDay(back = 0, now = new Date()): string {
  const date = new Date(now.getFullYear(), now.getMonth(), now.getDate() - back)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`
}
