import { afterEach, describe, expect, it } from 'vitest'
import { mount, type VueWrapper } from '@vue/test-utils'
import StatusTag from '@/components/StatusTag.vue'
import RunOutcome from '@/components/execution/RunOutcome.vue'
import LogLines from '@/components/execution/LogLines.vue'
import { attemptText, formatLimit, outcomeOf, seriesDone, seriesText, timeoutSentence } from '@/components/execution/outcome'
import type { Execution } from '@/api/executions'

let wrapper: VueWrapper | null = null
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
})

const run = (over: Partial<Execution>): Execution =>
  ({
    id: 12,
    script_id: 2,
    status: 'failed',
    error: null,
    duration_ms: 1200,
    started_at: '2026-01-01T10:00:00Z',
    attempt: 1,
    next_attempt_id: null,
    retry_of_id: null,
    ...over,
  }) as Execution

describe('how a run ended, in words', () => {
  it('says a timeout once, with the limit', () => {
    const outcome = outcomeOf(run({ status: 'timed_out', error: 'timed out', duration_ms: 30_040 }), { timeoutSeconds: 30 })
    expect(outcome.title).toBe("Timed out after 30 s (the script's limit)")
    expect(outcome.detail).toBeNull()
    expect(outcome.tone).toBe('error')
    // the limit changed since: the run's own duration is given
    expect(timeoutSentence(30_040, 600)).toBe('Timed out after 30 s (the time limit)')
    expect(timeoutSentence(300_100, null)).toBe('Timed out after 5 min (the time limit)')
    expect(formatLimit(90)).toBe('1 min 30 s')
    expect(formatLimit(7200)).toBe('2 h')
  })

  it('shows a cancelled run as neutral, naming who when known', () => {
    expect(outcomeOf(run({ status: 'cancelled', error: 'cancelled' }))).toEqual({ tone: 'neutral', title: 'Cancelled', detail: null })
    expect(outcomeOf(run({ status: 'cancelled', error: 'cancelled by alice' })).title).toBe('Cancelled by alice')
    expect(outcomeOf(run({ status: 'cancelled', error: 'cancelled before it started' })).title).toBe('Cancelled before it started')
  })

  it("shows a failed dependency install as the run's error", () => {
    const outcome = outcomeOf(run({ status: 'failed', error: 'dependency install failed: No solution found for nosuchpkg' }))
    expect(outcome.tone).toBe('error')
    expect(outcome.title).toBe('Failed after 1.20 s')
    expect(outcome.detail).toBe('dependency install failed: No solution found for nosuchpkg')
  })

  it('describes how a retry series ended', () => {
    const a = (id: number, attempt: number, status: Execution['status'], next: number | null = null) => ({ id, attempt, status, next_attempt_id: next })
    expect(seriesText([a(1, 1, 'failed', 2), a(2, 2, 'succeeded')], 3)).toBe('succeeded at attempt 2 of 3')
    expect(seriesText([a(1, 1, 'failed', 2), a(2, 2, 'running')], 3)).toBe('still running (attempt 2 of 3)')
    expect(seriesText([a(1, 1, 'failed', 2), a(2, 2, 'failed', 3)], 3)).toBe('still running (attempt 2 of 3)')
    expect(seriesText([a(1, 1, 'failed', 2), a(2, 2, 'failed', 3), a(3, 3, 'timed_out')], 3)).toBe('failed after 3 attempts')
    expect(seriesDone([a(1, 1, 'failed', 2), a(2, 2, 'failed')])).toBe(true)
    expect(seriesDone([a(1, 1, 'failed', 2)])).toBe(false)
    expect(attemptText(2, null)).toBe('attempt 2')
  })
})

describe('StatusTag and the outcome banner', () => {
  it('shows cancelled grey, not red', () => {
    wrapper = mount(StatusTag, { props: { status: 'cancelled' } })
    expect(wrapper.find('.el-tag').classes()).toContain('el-tag--info')
    expect(wrapper.find('.el-tag').classes()).not.toContain('el-tag--danger')
    wrapper.unmount()
    wrapper = mount(StatusTag, { props: { status: 'failed' } })
    expect(wrapper.find('.el-tag').classes()).toContain('el-tag--danger')
  })

  it('banner: one sentence for a timeout, neutral for cancelled, the error for a failure', async () => {
    wrapper = mount(RunOutcome, {
      props: { execution: run({ status: 'timed_out', error: 'timed out', duration_ms: 30_010 }), now: Date.now(), timeoutSeconds: 30 },
    })
    expect(wrapper.find('[data-test=run-outcome-title]').text()).toBe("Timed out after 30 s (the script's limit)")
    expect(wrapper.text().toLowerCase().match(/timed out/g)).toHaveLength(1)
    await wrapper.setProps({ execution: run({ status: 'cancelled', error: 'cancelled' }) })
    expect(wrapper.find('[data-test=run-outcome]').attributes('data-tone')).toBe('neutral')
    expect(wrapper.find('[data-test=run-outcome]').classes()).not.toContain('tone-error')
    expect(wrapper.find('[data-test=execution-error]').exists()).toBe(false)
    await wrapper.setProps({ execution: run({ status: 'failed', error: 'dependency install failed: bad' }) })
    expect(wrapper.find('[data-test=run-outcome]').attributes('data-tone')).toBe('error')
    expect(wrapper.find('[data-test=execution-error]').text()).toBe('dependency install failed: bad')
  })

  it('banner: running shows the progress in the same place', async () => {
    wrapper = mount(RunOutcome, {
      props: { execution: run({ status: 'running', started_at: new Date(Date.now() - 5000).toISOString() }), now: Date.now(), progress: { percent: 40, message: 'step 2' } },
    })
    expect(wrapper.find('[data-test=run-outcome-title]').text()).toMatch(/^Running for \d/)
    expect(wrapper.find('[data-test=progress]').text()).toBe('40% · step 2')
    expect(wrapper.findComponent({ name: 'ElProgress' }).exists()).toBe(true)
  })
})

describe('LogLines', () => {
  const line = (offset: number, text: string, stream: 'out' | 'err' | 'sys' = 'err') => ({ offset, time: '', stream, text })

  it("marks the installer's stderr lines as errors and scriptman.log levels by level", () => {
    wrapper = mount(LogLines, {
      props: {
        showTime: false,
        lines: [line(0, 'error: No solution found when resolving dependencies'), line(10, '[INFO] starting'), line(20, '[WARNING] low disk'), line(30, '[ERROR] broke')],
      },
    })
    const rows = wrapper.findAll('.log-line')
    expect(rows[0].classes()).toContain('log-err')
    expect(rows[0].classes().some((c) => c.startsWith('log-level-'))).toBe(false)
    expect(rows[1].classes()).toContain('log-level-info')
    expect(rows[2].classes()).toContain('log-level-warning')
    expect(rows[3].classes()).toContain('log-level-error')
  })

  it('marks search hits and the current match, keeping the text escaped', () => {
    wrapper = mount(LogLines, {
      props: { showTime: false, needle: 'ERR', current: 10, lines: [line(0, 'no hit', 'out'), line(10, '<b>err</b> and Err', 'out')] },
    })
    const rows = wrapper.findAll('.log-line')
    expect(rows[0].find('mark').exists()).toBe(false)
    expect(rows[1].findAll('mark').map((m) => m.text())).toEqual(['err', 'Err'])
    expect(rows[1].classes()).toContain('log-current')
    expect(rows[1].text()).toBe('<b>err</b> and Err')
    expect(rows[1].find('b').exists()).toBe(false)
  })
})
