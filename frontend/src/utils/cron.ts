import cronstrue from 'cronstrue'

/**
 * Cron helpers for the schedule editor. The server (croniter) is the authority on what is valid;
 * this reads an expression out loud, offers presets, and names a field out of range while the
 * user types, in the same words as the server's 422 (backend/services/scheduler/cron.py).
 *
 * Syntax the server takes: 5 fields (minute hour day-of-month month day-of-week), 6 with seconds
 * first, or one of the macros below.
 */

/** Macros the server accepts, as the 5-field expressions they stand for. */
const CRON_MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
}

export interface CronPreset {
  label: string
  cron: string
}

export const CRON_PRESETS: readonly CronPreset[] = [
  { label: 'Every minute', cron: '* * * * *' },
  { label: 'Every 5 minutes', cron: '*/5 * * * *' },
  { label: 'Every hour', cron: '0 * * * *' },
  { label: 'Every day at 02:00', cron: '0 2 * * *' },
  { label: 'Weekdays at 09:00', cron: '0 9 * * 1-5' },
  { label: 'Every Monday at 00:00', cron: '0 0 * * 1' },
  { label: 'On the 1st of every month at 00:00', cron: '0 0 1 * *' },
  { label: 'Every 10 seconds', cron: '*/10 * * * * *' },
]

/** Trims and collapses whitespace; macros are lower-cased. */
export function normalizeCron(expression: string): string {
  const text = (expression || '').trim().replace(/\s+/g, ' ')
  return text.startsWith('@') ? text.toLowerCase() : text
}

/** The fields of an expression as the server reads it (macros expanded); null when not 5/6 fields or an unknown macro. */
export function cronFields(expression: string): string[] | null {
  const text = normalizeCron(expression)
  if (!text) return null
  if (text.startsWith('@')) {
    const expanded = CRON_MACROS[text]
    return expanded ? expanded.split(' ') : null
  }
  const parts = text.split(' ')
  return parts.length === 5 || parts.length === 6 ? parts : null
}

interface FieldRange {
  low: number
  high: number
  /** the range as messages give it (day of week accepts 7 for Sunday but says 0-6) */
  numbers: string
  names?: readonly string[]
}
const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] as const
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const
const FIELD_RANGES: Record<string, FieldRange> = {
  second: { low: 0, high: 59, numbers: '0-59' },
  minute: { low: 0, high: 59, numbers: '0-59' },
  hour: { low: 0, high: 23, numbers: '0-23' },
  'day of month': { low: 1, high: 31, numbers: '1-31' },
  month: { low: 1, high: 12, numbers: '1-12', names: MONTH_NAMES },
  'day of week': { low: 0, high: 7, numbers: '0-6', names: DAY_NAMES },
}
const FIELD_NAMES_5 = ['minute', 'hour', 'day of month', 'month', 'day of week']
const FIELD_NAMES_6 = ['second', ...FIELD_NAMES_5]
const ALLOWED_CHARS = /^[0-9A-Za-z*,/?#\- ]+$/
const EQUAL_RANGE = /^([0-9a-z]+)-([0-9a-z]+)(\/\d+)?$/
const HASHED = /^[hr](\(|\/|$)/
const DIGITS = /^\d+$/

/** A value quoted as the server's messages quote it ('61'). */
const quoted = (text: string) => `'${text}'`

class CronProblem extends Error {}

function checkValue(name: string, raw: string): void {
  const allowed = FIELD_RANGES[name]
  let value = raw
  if (name === 'day of month' && (value === 'l' || /^\d+w$/.test(value))) {
    value = value === 'l' ? '' : value.slice(0, -1)
    if (!value) return
  }
  if (name === 'day of week' && value.includes('#')) {
    const [day, nth] = value.split('#', 2)
    if (!DIGITS.test(nth) || Number(nth) < 1 || Number(nth) > 5) {
      throw new CronProblem(`${name}: in ${day}#${nth}, the week of the month must be 1-5`)
    }
    value = day
  }
  if (name === 'day of week' && /^l[0-7]$/.test(value)) return
  if (DIGITS.test(value)) {
    const number = Number(value)
    if (number < allowed.low || number > allowed.high) throw new CronProblem(`${name}: ${number} is out of range ${allowed.numbers}`)
    return
  }
  if (allowed.names?.includes(value)) return
  const shown = allowed.names ? `${allowed.numbers}, ${allowed.names[0]}-${allowed.names[allowed.names.length - 1]}` : allowed.numbers
  throw new CronProblem(`${name}: ${quoted(value)} is not ${allowed.names ? 'a number or name' : 'a number'} (${shown})`)
}

function checkItem(name: string, part: string, item: string): void {
  if (item === '') throw new CronProblem(`${name}: ${quoted(part)} has an empty value (two commas, or one at an end)`)
  if (HASHED.test(item)) throw new CronProblem(`${name}: ${quoted(part)} uses hashed or random values (H, R), which are not supported`)
  const equal = EQUAL_RANGE.exec(item)
  if (equal) {
    const [, low, high] = equal
    const same = DIGITS.test(low) && DIGITS.test(high) ? Number(low) === Number(high) : low === high
    if (same) throw new CronProblem(`${name}: write the single value ${quoted(low)} instead of the range ${quoted(item)}`)
  }
  const slash = item.indexOf('/')
  const base = slash < 0 ? item : item.slice(0, slash)
  if (slash >= 0) {
    const step = item.slice(slash + 1)
    if (!DIGITS.test(step) || Number(step) < 1) throw new CronProblem(`${name}: step ${quoted(step)} must be a whole number of at least 1`)
  }
  if (base === '*' || base === '?') return
  const dash = base.indexOf('-')
  if (dash >= 0) {
    const low = base.slice(0, dash)
    const high = base.slice(dash + 1)
    if (!low || !high) throw new CronProblem(`${name}: ${quoted(item)} is not a range; write it as low-high, e.g. 1-5`)
    checkValue(name, low)
    checkValue(name, high)
    return
  }
  checkValue(name, base)
}

/**
 * What is wrong with an expression, in the server's words ("minute: 61 is out of range 0-59"),
 * or null when it looks fine (or is empty). The editor shows it while typing; the server, which
 * also knows forms this does not check, still has the last word when saving.
 */
export function cronProblem(expression: string): string | null {
  const text = (expression || '').trim()
  if (!text) return null
  if (text.startsWith('@')) {
    const macro = text.toLowerCase()
    if (macro === '@reboot') return '@reboot is not supported: schedules fire at times, not when the server starts'
    return CRON_MACROS[macro] ? null : `unknown macro ${quoted(text)}; use one of ${Object.keys(CRON_MACROS).join(', ')}`
  }
  if (!ALLOWED_CHARS.test(text)) return 'cron expression may contain only digits, letters, spaces and * , - / ? #'
  const parts = text.split(/\s+/)
  if (parts.length !== 5 && parts.length !== 6) {
    return `expected 5 fields (minute hour day month weekday), or 6 with seconds first, got ${parts.length}`
  }
  const names = parts.length === 6 ? FIELD_NAMES_6 : FIELD_NAMES_5
  try {
    parts.forEach((part, index) => {
      for (const item of part.toLowerCase().split(',')) checkItem(names[index], part, item)
    })
  } catch (error) {
    if (error instanceof CronProblem) return error.message
    throw error
  }
  return null
}

/**
 * A plain-English reading ("At 09:00, Monday through Friday"), or null when the expression cannot
 * be read. Never throws.
 */
export function describeCron(expression: string): string | null {
  const fields = cronFields(expression)
  if (!fields) return null
  // cronstrue guesses whether a 6th field is a year; ours is always seconds-first. A 7th (year)
  // field of `*` makes its reading unambiguous without changing the meaning.
  const text = fields.length === 6 ? [...fields, '*'].join(' ') : fields.join(' ')
  try {
    const reading = cronstrue.toString(text, {
      use24HourTimeFormat: true,
      throwExceptionOnParseError: true,
      dayOfWeekStartIndexZero: true,
    })
    return reading && !/error/i.test(reading) ? reading : null
  } catch {
    return null
  }
}

/** The browser's IANA zone ('UTC' when it cannot say). */
export function browserTimezone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'
  } catch {
    return 'UTC'
  }
}

/** Every IANA zone the browser knows, the given ones first (deduplicated, 'UTC' always present). */
export function timezoneOptions(first: (string | null | undefined)[] = [browserTimezone()]): string[] {
  let all: string[]
  try {
    const supported = (Intl as unknown as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf
    all = supported ? supported('timeZone') : []
  } catch {
    all = []
  }
  const out: string[] = []
  for (const zone of [...first, 'UTC', ...all]) {
    if (zone && !out.includes(zone)) out.push(zone)
  }
  return out
}

/** A time shown in a given zone ("Mon, Nov 24, 09:00:00"), falling back to the browser's zone. */
export function formatInZone(iso: string, timeZone?: string | null, withSeconds = true): string {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  const options: Intl.DateTimeFormatOptions = {
    weekday: 'short',
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: withSeconds ? '2-digit' : undefined,
    hourCycle: 'h23',
  }
  try {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone: timeZone || undefined }).format(date)
  } catch {
    return new Intl.DateTimeFormat(undefined, options).format(date)
  }
}
