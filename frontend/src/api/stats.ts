import { http } from './http'
import type { Schemas } from './types'

/** The dashboard's numbers: `GET /api/stats?days=N`. */

/** One day's runs: `date` is `YYYY-MM-DD`. */
export type DayCount = Schemas['DayOut']
/** `success_rate`: succeeded / finished runs in the period; null when nothing finished. */
export type Stats = Schemas['StatsOut']

export const getStats = (days = 14) => http.get<Stats>('/api/stats', { days })

/** "75 %" / "99.5 %" / "—" for a 0..1 rate. */
export function formatRate(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || Number.isNaN(rate)) return '—'
  const percent = Math.round(rate * 1000) / 10
  const text = Number.isInteger(percent) ? percent.toFixed(0) : percent.toFixed(1)
  return `${text} %`
}

function isoDay(date: Date): string {
  const y = date.getFullYear()
  const m = String(date.getMonth() + 1).padStart(2, '0')
  const d = String(date.getDate()).padStart(2, '0')
  return `${y}-${m}-${d}`
}

/**
 * The days in order, oldest first, with gaps filled by zeros so the chart's x axis is continuous
 * (from the first to the last day the server sent).
 */
export function fillDays(days: DayCount[]): DayCount[] {
  if (!days.length) return []
  const byDate = new Map(days.map((d) => [d.date, d]))
  const sorted = [...byDate.keys()].sort()
  const parse = (s: string) => {
    const [y, m, d] = s.split('-').map(Number)
    return new Date(y, m - 1, d)
  }
  const out: DayCount[] = []
  const end = parse(sorted[sorted.length - 1])
  for (let day = parse(sorted[0]); day <= end && out.length < 3660; day.setDate(day.getDate() + 1)) {
    const key = isoDay(day)
    out.push(byDate.get(key) || { date: key, succeeded: 0, failed: 0, other: 0 })
  }
  return out
}

/** "Nov 20" for a `YYYY-MM-DD` day, in the browser's locale (no timezone shift). */
export function dayLabel(date: string): string {
  const [y, m, d] = date.split('-').map(Number)
  if (!y || !m || !d) return date
  return new Date(y, m - 1, d).toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
}

/** The first line of an error, cut to `max` characters. */
export function errorSnippet(error: string | null | undefined, max = 120): string {
  if (!error) return ''
  const line = error.trim().split('\n').find((l) => l.trim()) || ''
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}
