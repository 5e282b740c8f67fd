/**
 * Issue 14: a paused schedule previews no upcoming runs, its newest run's status is live, its
 * parameters follow the run form's rules, a bad cron field is named in the server's words; the
 * dashboard's rate counts a retried run once; the account page tells the truth about passwords.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createMemoryHistory, createRouter } from 'vue-router'
import { createPinia, setActivePinia } from 'pinia'
import { defineComponent } from 'vue'
import CronInput from '@/components/CronInput.vue'
import CronPreview from '@/components/CronPreview.vue'
import ParamsOverride from '@/components/schedule/ParamsOverride.vue'
import { paramPlaceholder, toParamForm } from '@/components/schedule/paramValues'
import { useAuthStore } from '@/stores/auth'
import { cronProblem } from '@/utils/cron'
import AccountView from '@/views/AccountView.vue'
import DashboardView from '@/views/DashboardView.vue'
import ScheduleEditorView from '@/views/ScheduleEditorView.vue'
import type { ParameterDefinitionInput } from '@/api/scripts'

vi.setConfig({ testTimeout: 30_000 })

type Handler = (url: string) => Response | undefined
let calls: string[] = []
let handler: Handler = () => undefined
const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

let wrapper: VueWrapper | null = null
beforeEach(() => {
  calls = []
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) => {
      calls.push(decodeURIComponent(url))
      return handler(url) ?? json({ title: 'Not Found', status: 404 }, 404)
    }),
  )
})
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('cron mistakes, in the server’s words', () => {
  it('names the field, the value and the allowed range', () => {
    expect(cronProblem('61 * * * *')).toBe('minute: 61 is out of range 0-59')
    expect(cronProblem('0 24 * * *')).toBe('hour: 24 is out of range 0-23')
    expect(cronProblem('0 0 0 * *')).toBe('day of month: 0 is out of range 1-31')
    expect(cronProblem('0 0 * 13 *')).toBe('month: 13 is out of range 1-12')
    expect(cronProblem('0 0 * * 8')).toBe('day of week: 8 is out of range 0-6')
    expect(cronProblem('61 * * * * *')).toBe('second: 61 is out of range 0-59')
    expect(cronProblem('0 1-30 * * *')).toBe('hour: 30 is out of range 0-23')
    expect(cronProblem('0 9 * * 1-70')).toBe('day of week: 70 is out of range 0-6')
    expect(cronProblem('*/0 * * * *')).toBe("minute: step '0' must be a whole number of at least 1")
    expect(cronProblem('x * * * *')).toBe("minute: 'x' is not a number (0-59)")
    expect(cronProblem('0 0 * foo *')).toBe("month: 'foo' is not a number or name (1-12, jan-dec)")
    expect(cronProblem('5-5 * * * *')).toBe("minute: write the single value '5' instead of the range '5-5'")
    expect(cronProblem('* * * *')).toBe('expected 5 fields (minute hour day month weekday), or 6 with seconds first, got 4')
    expect(cronProblem('@reboot')).toContain('@reboot is not supported')
  })

  it('accepts what the server accepts', () => {
    for (const ok of ['', '* * * * *', '*/10 * * * * *', '0 9 * * mon-fri', '0 0 1 jan *', '0 0 * * 7', '0 0 L * *', '0 0 15W * *', '0 0 * * 5#2', '@daily', '0,30 8-18/2 * * *']) {
      expect(cronProblem(ok), ok).toBeNull()
    }
  })

  it('shows the problem under the field instead of a parser’s raw text', async () => {
    const input = mount(CronInput, { props: { modelValue: '61 * * * *' } })
    expect(input.get('[data-test=cron-problem]').text()).toBe('minute: 61 is out of range 0-59')
    expect(input.text()).not.toMatch(/not acceptable|\[61/)
    await input.setProps({ modelValue: '1 * * * *' })
    expect(input.find('[data-test=cron-problem]').exists()).toBe(false)
    expect(input.get('[data-test=cron-description]').text()).toBe('At 1 minute past the hour')
    input.unmount()
  })
})

const preview = (times: string[]) => json({ cron: '0 * * * *', fields: '0 * * * *', has_seconds: false, timezone: 'UTC', times })

describe('a paused schedule', () => {
  it('previews no upcoming runs: it says so, and labels the times as when it would run', async () => {
    handler = (url) => (url.startsWith('/api/schedules/preview') ? preview(['2099-01-01T01:00:00+00:00']) : undefined)
    const live = mount(CronPreview, { props: { cron: '0 * * * *', timezone: 'UTC' } })
    await flushPromises()
    expect(live.text()).toContain('Next 5 runs')
    expect(live.find('[data-test=cron-paused]').exists()).toBe(false)
    await live.setProps({ paused: true })
    expect(live.get('[data-test=cron-paused]').text()).toBe('Paused — no runs until it is resumed.')
    expect(live.text()).not.toContain('Next 5 runs')
    expect(live.text()).toContain('When resumed, it would run at')
    live.unmount()
  })
})

const script = {
  id: 3, name: 'report', enabled: true,
  parameters: [
    { name: 'limit', type: 'integer', required: true, default: 3, description: '', choices: null },
    { name: 'verbose', type: 'boolean', required: false, default: null, description: '', choices: null },
    { name: 'target', type: 'string', required: true, default: null, description: '', choices: null },
  ],
}
const schedule = (extra: Record<string, unknown> = {}) => ({
  id: 7, name: 'Nightly', script_id: 3, script_name: 'report', cron: '0 * * * *', timezone: 'UTC', params: {},
  enabled: false, overlap_policy: 'skip', misfire_grace_seconds: 60, last_run_at: '2026-01-01T00:00:00Z',
  last_status: 'succeeded', next_run_at: null, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
  ...extra,
})

describe('schedule parameters follow the run form', () => {
  const defs = script.parameters as ParameterDefinitionInput[]

  it('a required parameter with a default may stay empty; an optional boolean runs as false', () => {
    expect(paramPlaceholder(defs[0])).toBe('Default: 3')
    expect(paramPlaceholder(defs[1])).toBe('Default: false')
    expect(paramPlaceholder(defs[2])).toBe('Required')
  })

  it('marks only the required parameter without a default as required', () => {
    const form = toParamForm(defs, {})
    const fields = mount(ParamsOverride, { props: { definitions: defs, form, errors: {} } })
    const items = fields.findAll('.el-form-item')
    expect(items.map((i) => i.classes().includes('is-required'))).toEqual([false, false, true])
    expect(fields.find('input[placeholder="Default: 3"]').exists()).toBe(true)
    fields.unmount()
  })
})

describe('ScheduleEditorView', () => {
  async function openEditor(current: () => Record<string, unknown>) {
    setActivePinia(createPinia())
    useAuthStore().user = {
      id: 1, username: 'ed', full_name: '', role: 'editor', active: true, created_at: '2026-01-01T00:00:00Z', last_login_at: null,
    }
    handler = (url) => {
      if (url.startsWith('/api/schedules/preview')) return preview(['2099-01-01T01:00:00+00:00'])
      if (url.startsWith('/api/schedules/7/fires')) return json({ items: [], total: 0, page: 1, per_page: 20 })
      if (url.startsWith('/api/schedules/7')) return json(current())
      if (url.startsWith('/api/scripts')) return json({ items: [script], total: 1, page: 1, per_page: 100 })
      return undefined
    }
    const Stub = defineComponent({ template: '<div />' })
    const router = createRouter({
      history: createMemoryHistory(),
      routes: [
        { path: '/schedules/:id', name: 'schedule', component: ScheduleEditorView, props: true },
        { path: '/:rest(.*)*', component: Stub },
      ],
    })
    await router.push('/schedules/7')
    await router.isReady()
    wrapper = mount(ScheduleEditorView, { props: { id: '7' }, global: { plugins: [router] }, attachTo: document.body })
    await flushPromises()
  }

  it('says a paused schedule runs nothing, and names it in the browser tab', async () => {
    await openEditor(() => schedule())
    expect(wrapper!.get('[data-test=schedule-paused]').text()).toBe('Paused — no runs until it is resumed')
    expect(wrapper!.text()).not.toContain('Next run:')
    expect(wrapper!.get('[data-test=cron-paused]').text()).toContain('Paused — no runs until it is resumed')
    expect(document.title).toBe('Nightly · Schedule · Scriptman')
  })

  it('follows the status of the newest run while it runs', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' })
    let status = 'running'
    await openEditor(() => schedule({ enabled: true, next_run_at: '2099-01-01T01:00:00Z', last_status: status }))
    const shown = () => wrapper!.get('[data-test=schedule-last-status]').attributes('data-status')
    expect(shown()).toBe('running')
    status = 'failed'
    await vi.advanceTimersByTimeAsync(3100)
    await flushPromises()
    expect(shown()).toBe('failed')
    const reads = calls.filter((c) => c === '/api/schedules/7').length
    await vi.advanceTimersByTimeAsync(10000)
    expect(calls.filter((c) => c === '/api/schedules/7').length).toBe(reads) // final: no more polling
  })
})

describe('DashboardView', () => {
  const failure = {
    id: 41, script_id: 2, script_name: 'backup', version: 1, trigger: 'retry', params: {}, status: 'failed', exit_code: 1,
    result: null, error: 'boom', queued_at: '2026-11-20T10:00:00Z', started_at: '2026-11-20T10:00:01Z',
    finished_at: '2026-11-20T10:00:02Z', duration_ms: 1000, peak_memory_kb: null, cpu_time_ms: null, attempt: 3,
    retry_of_id: 40, rerun_of_id: null, schedule_id: null, progress: null, progress_message: null, sandboxed: false,
    created_by: null, next_attempt_id: null,
  }
  it('says a retried run counts once, and that a listed failure is the last of its attempts', async () => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' })
    handler = (url) =>
      url.startsWith('/api/stats')
        ? json({
            days: [], total: 2, succeeded: 1, failed: 1, success_rate: 0.5, queued: 0, scripts: 1, schedules: 0, active_schedules: 0,
            running: [{ ...failure, id: 50, status: 'running', trigger: 'cli', attempt: 1 }],
            recent_failures: [failure],
          })
        : undefined
    wrapper = mount(DashboardView, { global: { stubs: { RouterLink: { props: ['to'], template: '<a :data-to="JSON.stringify(to)"><slot /></a>' }, RunsChart: true } } })
    await flushPromises()
    expect(wrapper.get('[data-test=stat-success-rate]').text()).toBe('50 %')
    expect(wrapper.get('[data-test=stat-success-note]').text()).toBe('of finished runs; a retried run counts once')
    const failures = wrapper.get('[data-test=recent-failures]')
    expect(failures.text()).toContain('#41 backup')
    expect(failures.text()).toContain('after 3 attempts')
    expect(failures.get('a').attributes('data-to')).toBe('"/executions/41"')
    expect(wrapper.get('[data-test=running-now]').text()).toContain('Command line')
    expect(JSON.parse(wrapper.get('[data-test=all-failures]').attributes('data-to')!)).toEqual({ path: '/executions', query: { status: 'failed' } })
  })
})

describe('AccountView', () => {
  it('tells the truth: the password is yours to change, the role an administrator’s; tokens are easy to find', async () => {
    setActivePinia(createPinia())
    useAuthStore().user = {
      id: 2, username: 'vera', full_name: '', role: 'viewer', active: true, created_at: '2026-01-01T00:00:00Z', last_login_at: null,
    }
    handler = (url) => (url.startsWith('/api/auth/tokens') ? json({ items: [], total: 0 }) : undefined)
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/account', component: AccountView }] })
    await router.push('/account')
    await router.isReady()
    wrapper = mount(AccountView, { global: { plugins: [router] }, attachTo: document.body })
    await flushPromises()
    expect(wrapper.text()).not.toContain('Passwords and roles are changed by an administrator')
    expect(wrapper.get('[data-test=role-note]').text()).toContain('Your role is changed by an administrator')
    expect(wrapper.find('[data-test=change-password]').exists()).toBe(true)
    // the tokens come right after the profile, with an anchor the user menu and the page header link to
    const sections = wrapper.findAll('.section').map((s) => s.attributes('id') ?? '')
    expect(sections).toEqual(['', 'tokens', 'password'])
    expect(wrapper.get('[data-test=jump-tokens]').attributes('href')).toBe('/account#tokens')
    expect(wrapper.get('[data-test=tokens-section]').text()).toContain('New token')
  })
})
