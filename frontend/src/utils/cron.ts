import cronstrue from 'cronstrue'

/**
 * Cron helpers for the schedule editor. The server (croniter) is the authority on what is valid;
 * this only reads an expression out loud and offers presets.
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
