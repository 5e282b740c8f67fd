import { describe, expect, it } from 'vitest'
import {
  CRON_PRESETS,
  cronFields,
  describeCron,
  formatInZone,
  normalizeCron,
  timezoneOptions,
} from '@/utils/cron'

describe('describeCron', () => {
  it('reads 5-field expressions', () => {
    expect(describeCron('0 9 * * 1-5')).toBe('At 09:00, Monday through Friday')
    expect(describeCron('*/5 * * * *')).toBe('Every 5 minutes')
    expect(describeCron('0 0 * * 7')).toBe('At 00:00, only on Sunday')
  })

  it('reads 6-field expressions as seconds first, whatever the last field looks like', () => {
    expect(describeCron('*/10 * * * * *')).toBe('Every 10 seconds')
    expect(describeCron('30 0 12 1 * *')).toBe('At 12:00:30, on day 1 of the month')
    // cronstrue alone would read `?` here as "no seconds, year last"
    expect(describeCron('0 0 12 ? * *')).toBe('At 12:00')
  })

  it('expands the macros the server accepts', () => {
    expect(describeCron('@daily')).toBe('At 00:00')
    expect(describeCron('@MIDNIGHT')).toBe('At 00:00')
    expect(describeCron('@hourly')).toBe('Every hour')
    expect(describeCron('@weekly')).toBe('At 00:00, only on Sunday')
    expect(describeCron('@yearly')).toContain('January')
  })

  it('returns null without throwing on what cannot be read', () => {
    for (const bad of ['', '   ', 'bad', '* * *', '* * * * * * *', '61 * * * *', 'H * * * *', '@reboot', '@every 5m']) {
      expect(() => describeCron(bad)).not.toThrow()
      expect(describeCron(bad)).toBeNull()
    }
    expect(describeCron(undefined as unknown as string)).toBeNull()
  })

  it('tolerates extra whitespace', () => {
    expect(describeCron('  0   2 * *  * ')).toBe('At 02:00')
  })
})

describe('cron fields', () => {
  it('normalises and splits', () => {
    expect(normalizeCron('  0  2\t* * * ')).toBe('0 2 * * *')
    expect(normalizeCron('@Daily')).toBe('@daily')
    expect(cronFields('@daily')).toEqual(['0', '0', '*', '*', '*'])
    expect(cronFields('@nope')).toBeNull()
  })
})

describe('CRON_PRESETS', () => {
  it('offers the documented presets, each readable', () => {
    const byCron = Object.fromEntries(CRON_PRESETS.map((p) => [p.cron, p.label]))
    for (const cron of ['* * * * *', '*/5 * * * *', '0 * * * *', '0 2 * * *', '0 9 * * 1-5', '0 0 * * 1', '0 0 1 * *', '*/10 * * * * *']) {
      expect(byCron[cron]).toBeTruthy()
      expect(describeCron(cron)).toBeTruthy()
    }
    expect(describeCron('0 2 * * *')).toBe('At 02:00')
    expect(describeCron('0 0 1 * *')).toBe('At 00:00, on day 1 of the month')
  })
})

describe('timezones', () => {
  it('puts the given zones first, once each, and always has UTC', () => {
    const zones = timezoneOptions(['Europe/Berlin', null, 'Europe/Berlin'])
    expect(zones[0]).toBe('Europe/Berlin')
    expect(zones.filter((z) => z === 'Europe/Berlin')).toHaveLength(1)
    expect(zones).toContain('UTC')
  })

  it('formats a time in the schedule zone, not the browser one', () => {
    const iso = '2026-11-24T09:00:00+01:00'
    expect(formatInZone(iso, 'Europe/Berlin')).toContain('09:00')
    expect(formatInZone(iso, 'America/New_York')).toContain('03:00')
    expect(formatInZone(iso, 'Not/AZone')).toBeTruthy()
    expect(formatInZone('garbage', 'UTC')).toBe('garbage')
  })
})
