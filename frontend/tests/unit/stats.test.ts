import { afterEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import DashboardView from '@/views/DashboardView.vue'
import { dayLabel, errorSnippet, fillDays, formatRate, getStats, type Stats } from '@/api/stats'
import type { Execution } from '@/api/executions'

afterEach(() => {
  vi.unstubAllGlobals()
  vi.useRealTimers()
})

const sampleStats: Stats = {
  days: [
    { date: '2026-11-20', succeeded: 3, failed: 1, other: 0 },
    { date: '2026-11-22', succeeded: 1, failed: 0, other: 2 },
  ],
  total: 7,
  succeeded: 4,
  failed: 1,
  success_rate: 0.8,
  running: [],
  queued: 0,
  recent_failures: [],
  scripts: 12,
  schedules: 3,
  active_schedules: 2,
}

describe('stats API', () => {
  it('asks GET /api/stats?days=N and returns the body', async () => {
    const fetchMock = vi.fn(async (_url: string, _init?: RequestInit) => new Response(JSON.stringify(sampleStats), { headers: { 'Content-Type': 'application/json' } }))
    vi.stubGlobal('fetch', fetchMock)
    const stats = await getStats(30)
    expect(stats.success_rate).toBe(0.8)
    expect(fetchMock).toHaveBeenCalledWith('/api/stats?days=30', expect.objectContaining({ method: 'GET' }))
    await getStats()
    expect(fetchMock.mock.calls[1][0]).toBe('/api/stats?days=14')
  })
})

describe('formatRate', () => {
  it('shows a percentage with at most one decimal, or a dash when nothing finished', () => {
    expect(formatRate(0.75)).toBe('75 %')
    expect(formatRate(1)).toBe('100 %')
    expect(formatRate(0)).toBe('0 %')
    expect(formatRate(0.9951)).toBe('99.5 %')
    expect(formatRate(2 / 3)).toBe('66.7 %')
    expect(formatRate(null)).toBe('—')
    expect(formatRate(undefined)).toBe('—')
  })
})

describe('fillDays', () => {
  it('sorts and fills missing days with zeros so the axis is continuous', () => {
    const days = fillDays([sampleStats.days[1], sampleStats.days[0]])
    expect(days.map((d) => d.date)).toEqual(['2026-11-20', '2026-11-21', '2026-11-22'])
    expect(days[1]).toEqual({ date: '2026-11-21', succeeded: 0, failed: 0, other: 0 })
    expect(days[2].other).toBe(2)
  })

  it('crosses month ends and DST changes without skipping or repeating a day', () => {
    const days = fillDays([
      { date: '2026-03-27', succeeded: 1, failed: 0, other: 0 },
      { date: '2026-04-02', succeeded: 1, failed: 0, other: 0 },
    ])
    expect(days.map((d) => d.date)).toEqual([
      '2026-03-27',
      '2026-03-28',
      '2026-03-29',
      '2026-03-30',
      '2026-03-31',
      '2026-04-01',
      '2026-04-02',
    ])
    expect(fillDays([])).toEqual([])
  })
})

describe('labels', () => {
  it('labels a day without shifting it across timezones', () => {
    expect(dayLabel('2026-11-20')).toMatch(/20/)
    expect(dayLabel('nonsense')).toBe('nonsense')
  })

  it('cuts an error to its first non-empty line', () => {
    expect(errorSnippet('\n  Traceback (most recent call last):\n  File x')).toBe('Traceback (most recent call last):')
    expect(errorSnippet('x'.repeat(200), 10)).toBe(`${'x'.repeat(9)}…`)
    expect(errorSnippet(null)).toBe('')
  })
})

describe('DashboardView', () => {
  const execution: Execution = {
    id: 41, script_id: 2, script_name: 'backup', version: 1, trigger: 'manual', params: {}, status: 'failed',
    exit_code: 1, result: null, error: 'Traceback (most recent call last):\n  boom', queued_at: '2026-11-20T10:00:00Z',
    started_at: '2026-11-20T10:00:01Z', finished_at: '2026-11-20T10:00:02Z', duration_ms: 1000, peak_memory_kb: null,
    cpu_time_ms: null, attempt: 1, retry_of_id: null, rerun_of_id: null, schedule_id: null, progress: null,
    progress_message: null, sandboxed: false, created_by: null, next_attempt_id: null,
    upstream_execution_id: null, downstream: [], variables: [],
  }

  function setVisibility(state: 'visible' | 'hidden') {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state })
    document.dispatchEvent(new Event('visibilitychange'))
  }

  it('shows the numbers, refreshes every 5 s while visible and stops while hidden', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
    setVisibility('visible')
    let body: Stats = { ...sampleStats, recent_failures: [execution] }
    const fetchMock = vi.fn(async () => new Response(JSON.stringify(body), { headers: { 'Content-Type': 'application/json' } }))
    vi.stubGlobal('fetch', fetchMock)
    const wrapper = mount(DashboardView, { global: { stubs: { RouterLink: { template: '<a><slot /></a>' }, RunsChart: true } } })
    await flushPromises()
    expect(fetchMock).toHaveBeenCalledTimes(1)
    expect(wrapper.get('[data-test=stat-success-rate]').text()).toBe('80 %')
    expect(wrapper.get('[data-test=recent-failures]').text()).toContain('backup')
    expect(wrapper.get('[data-test=recent-failures]').text()).toContain('Traceback (most recent call last):')
    expect(wrapper.get('[data-test=recent-failures]').text()).not.toContain('boom')

    body = { ...body, success_rate: null, running: [{ ...execution, id: 42, status: 'running', error: null }] }
    await vi.advanceTimersByTimeAsync(5000)
    await flushPromises()
    expect(fetchMock).toHaveBeenCalledTimes(2)
    expect(wrapper.get('[data-test=stat-success-rate]').text()).toBe('—')
    expect(wrapper.get('[data-test=running-now]').text()).toContain('#42')

    setVisibility('hidden')
    await vi.advanceTimersByTimeAsync(20000)
    expect(fetchMock).toHaveBeenCalledTimes(2)
    setVisibility('visible')
    await flushPromises()
    expect(fetchMock).toHaveBeenCalledTimes(3)

    wrapper.unmount()
    await vi.advanceTimersByTimeAsync(20000)
    expect(fetchMock).toHaveBeenCalledTimes(3)
  })

  it('shows a readable error when the stats cannot be loaded', async () => {
    setVisibility('hidden')
    vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({ title: 'Forbidden', status: 403, detail: 'No.' }), { status: 403, headers: { 'Content-Type': 'application/problem+json' } })))
    const wrapper = mount(DashboardView, { global: { stubs: { RouterLink: true, RunsChart: true } } })
    await flushPromises()
    expect(wrapper.text()).toContain('Could not load the dashboard: No.')
    wrapper.unmount()
  })
})
