/**
 * Issue 14, the lists: trigger names a newcomer understands, who started a run, search and a
 * range of days on the history, audit rows that name their targets, and filters and page kept in
 * the URL on the audit, schedules and users lists.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createMemoryHistory, createRouter, type Router } from 'vue-router'
import { createPinia, setActivePinia } from 'pinia'
import { defineComponent, type Component } from 'vue'
import { EXECUTION_TRIGGERS } from '@/api/executions'
import { triggerLabel } from '@/components/execution/labels'
import { useAuthStore } from '@/stores/auth'
import ExecutionsView from '@/views/ExecutionsView.vue'
import AuditView from '@/views/AuditView.vue'
import SchedulesView from '@/views/SchedulesView.vue'
import UsersView from '@/views/UsersView.vue'
import { dayRange } from '@/utils/format'

// The first mount of a view with Element Plus' table and date picker takes a while on a busy machine.
vi.setConfig({ testTimeout: 30_000 })

type Handler = (url: string) => Response | undefined
let calls: string[] = []
let handler: Handler = () => undefined
let narrow = false
const json = (body: unknown) => new Response(JSON.stringify(body), { headers: { 'Content-Type': 'application/json' } })
const page = (items: unknown[]) => json({ items, total: items.length, page: 1, per_page: 50 })

let wrapper: VueWrapper | null = null
beforeEach(() => {
  calls = []
  narrow = false
  vi.stubGlobal('matchMedia', (query: string) => ({
    matches: narrow && query === '(max-width: 760px)',
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
  }))
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) => {
      calls.push(decodeURIComponent(url))
      return handler(url) ?? new Response('{"title":"Not Found","status":404}', { status: 404 })
    }),
  )
})
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

const Stub = defineComponent({ template: '<div />' })
async function mountAt(view: Component, name: string, path: string, route: string): Promise<Router> {
  setActivePinia(createPinia())
  useAuthStore().user = {
    id: 1, username: 'admin', full_name: '', role: 'admin', active: true, created_at: '2026-01-01T00:00:00Z', last_login_at: null,
  }
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path, name, component: view },
      { path: '/executions/:id', name: 'execution', component: Stub },
      { path: '/scripts/:id', name: 'script', component: Stub },
      { path: '/:rest(.*)*', component: Stub },
    ],
  })
  await router.push(route)
  await router.isReady()
  wrapper = mount(view, { global: { plugins: [router] }, attachTo: document.body })
  await flushPromises()
  return router
}
const lastCall = (prefix: string) => calls.filter((c) => c.startsWith(prefix)).at(-1) ?? ''

describe('trigger labels', () => {
  it('say where a run came from, and the filter offers every trigger (webhook and chain since issue 15)', () => {
    expect(triggerLabel('manual')).toBe('Web app')
    expect(triggerLabel('api')).toBe('API (token)')
    expect(triggerLabel('cli')).toBe('Command line')
    expect(triggerLabel('schedule')).toBe('Schedule')
    expect(triggerLabel('retry')).toBe('Retry')
    expect(triggerLabel('rerun')).toBe('Re-run')
    expect(EXECUTION_TRIGGERS).toEqual(['manual', 'api', 'cli', 'schedule', 'webhook', 'chain', 'retry', 'rerun'])
  })
})

const execution = (id: number, extra: Record<string, unknown> = {}) => ({
  id, script_id: 2, script_name: 'hello', version: 1, trigger: 'cli', status: 'failed', attempt: 1,
  queued_at: '2026-01-01T00:00:00Z', started_at: '2026-01-01T00:00:01Z', duration_ms: 1500, peak_memory_kb: 2048,
  created_by: 'alice', ...extra,
})

describe('ExecutionsView', () => {
  beforeEach(() => {
    handler = (url) => {
      if (url.startsWith('/api/executions')) return page([execution(5), execution(6, { trigger: 'schedule', created_by: null })])
      if (url.startsWith('/api/scripts')) return page([{ id: 2, name: 'hello' }])
      return undefined
    }
  })

  it('sends the search, who and the days from the URL; the last day is included', async () => {
    await mountAt(ExecutionsView, 'executions', '/executions', '/executions?q=%2312&created_by=alice&since=2026-03-02&until=2026-03-04&page=2')
    const { since, until } = dayRange('2026-03-02', '2026-03-04')
    expect(since).toMatch(/^2026-03-02T00:00:00[+-]\d\d:\d\d$/)
    expect(until).toMatch(/^2026-03-05T00:00:00[+-]\d\d:\d\d$/)
    const call = lastCall('/api/executions')
    expect(call).toContain('q=#12')
    expect(call).toContain('created_by=alice')
    expect(call).toContain(`since=${since}`)
    expect(call).toContain(`until=${until}`)
    expect(call).toContain('page=2')
    expect(wrapper!.get('[data-test=filter-created-by]').text()).toContain('alice')
    expect((wrapper!.get('[data-test=filter-q] input').element as HTMLInputElement).value).toBe('#12')
  })

  it('shows who started each run and the trigger by name; a click on a name filters by it', async () => {
    const router = await mountAt(ExecutionsView, 'executions', '/executions', '/executions?page=3')
    const table = wrapper!.get('[data-test=executions-table]')
    expect(table.text()).toContain('Who')
    expect(table.findAll('[data-test=execution-trigger]').map((t) => t.text())).toEqual(['Command line', 'Schedule'])
    const who = table.findAll('[data-test=execution-created-by]')
    expect(who.map((w) => w.text())).toEqual(['alice', '—'])
    await who[0].trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.query).toEqual({ created_by: 'alice' }) // and back to page 1
    expect(lastCall('/api/executions')).toContain('created_by=alice')
  })

  it('puts typed search text into the URL once typing pauses', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const router = await mountAt(ExecutionsView, 'executions', '/executions', '/executions?status=failed')
    await wrapper!.get('[data-test=filter-q] input').setValue('backup')
    expect(router.currentRoute.value.query.q).toBeUndefined()
    await vi.advanceTimersByTimeAsync(400)
    await flushPromises()
    expect(router.currentRoute.value.query).toEqual({ status: 'failed', q: 'backup' })
    expect(lastCall('/api/executions')).toContain('q=backup')
  })

  it('on a phone keeps status, script and time', async () => {
    narrow = true
    await mountAt(ExecutionsView, 'executions', '/executions', '/executions')
    const headers = wrapper!.findAll('[data-test=executions-table] th').map((th) => th.text()).filter(Boolean)
    expect(headers).toEqual(['Status', 'Script', 'Started'])
    // the run still has its link
    expect(wrapper!.get('[data-test=execution-link]').attributes('href')).toBe('/executions/5')
  })
})

describe('AuditView', () => {
  const event = (id: number, extra: Record<string, unknown>) => ({
    id, time: '2026-01-01T00:00:00Z', username: 'admin', action: 'scripts.patch_script', target_type: 'script',
    target_id: '3', target_name: 'nightly-report', ip: '127.0.0.1', status: 200, detail: {}, ...extra,
  })
  beforeEach(() => {
    handler = (url) =>
      url.startsWith('/api/audit')
        ? json({
            items: [
              event(1, {}),
              event(2, { target_type: 'user', target_id: '4', target_name: 'vera', action: 'users.update_user' }),
              event(3, { target_type: 'script', target_id: '9', target_name: null }),
              event(4, { target_type: '', target_id: '', target_name: null, action: 'auth.login' }),
            ],
            total: 120,
            page: 2,
            per_page: 50,
          })
        : undefined
  })

  it('names each target and links it', async () => {
    await mountAt(AuditView, 'audit', '/admin/audit', '/admin/audit')
    const targets = wrapper!.findAll('[data-test=audit-target]')
    expect(targets.map((t) => t.text())).toEqual(["script 'nightly-report' (#3)", "user 'vera' (#4)", 'script #9', '—'])
    expect(targets[0].get('a').attributes('href')).toBe('/scripts/3')
    expect(targets[1].get('a').attributes('href')).toBe('/admin/users?q=vera')
  })

  it('reads its filters and page from the URL, and writes a clicked filter back', async () => {
    const router = await mountAt(AuditView, 'audit', '/admin/audit', '/admin/audit?username=admin&action=auth.login&page=2')
    expect(lastCall('/api/audit')).toBe('/api/audit?username=admin&action=auth.login&page=2&per_page=50')
    expect((wrapper!.get('[data-test=audit-username] input').element as HTMLInputElement).value).toBe('admin')
    const actionButton = wrapper!.findAll('[data-test=audit-list] .mono').find((b) => b.text() === 'users.update_user')!
    await actionButton.trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.query).toEqual({ username: 'admin', action: 'users.update_user' })
    expect(lastCall('/api/audit')).toBe('/api/audit?username=admin&action=users.update_user&page=1&per_page=50')
  })
})

const schedule = (id: number, last_status: string | null) => ({
  id, name: `s${id}`, script_id: 2, script_name: 'hello', cron: '0 * * * *', timezone: 'UTC', enabled: true, params: {},
  overlap_policy: 'skip', misfire_grace_seconds: 60, last_run_at: '2026-01-01T00:00:00Z', last_status,
  next_run_at: '2026-01-01T01:00:00Z', created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
})

describe('SchedulesView', () => {
  it('keeps search, state and page in the URL', async () => {
    handler = (url) => (url.startsWith('/api/schedules') ? json({ items: [schedule(1, null)], total: 130, page: 2, per_page: 50 }) : undefined)
    const router = await mountAt(SchedulesView, 'schedules', '/schedules', '/schedules?q=night&enabled=false&page=2')
    expect(lastCall('/api/schedules')).toBe('/api/schedules?q=night&enabled=false&page=2&per_page=50')
    await router.replace({ query: { ...router.currentRoute.value.query, page: '3' } })
    await flushPromises()
    expect(lastCall('/api/schedules')).toBe('/api/schedules?q=night&enabled=false&page=3&per_page=50')
  })

  it('shows the live status of the newest run, re-read every few seconds while it runs', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' })
    let status = 'running'
    handler = (url) => (url.startsWith('/api/schedules') ? page([schedule(1, status)]) : undefined)
    await mountAt(SchedulesView, 'schedules', '/schedules', '/schedules')
    const shown = () => wrapper!.get('[data-test=schedule-last-status]').attributes('data-status')
    expect(shown()).toBe('running')
    status = 'succeeded'
    await vi.advanceTimersByTimeAsync(3100)
    await flushPromises()
    expect(shown()).toBe('succeeded')
    const before = calls.length
    await vi.advanceTimersByTimeAsync(10000) // nothing live: the slow pace again
    expect(calls.length).toBe(before)
  })
})

describe('UsersView', () => {
  const person = (id: number, username: string, role: string) => ({
    id, username, full_name: `${username} Smith`, role, active: true, created_at: '2026-01-01T00:00:00Z', last_login_at: null,
  })
  it('filters by the search text and role kept in the URL', async () => {
    handler = (url) => (url.startsWith('/api/users') ? page([person(1, 'admin', 'admin'), person(2, 'vera', 'viewer'), person(3, 'ed', 'editor')]) : undefined)
    const router = await mountAt(UsersView, 'users', '/admin/users', '/admin/users?role=viewer')
    const names = () => wrapper!.findAll('[data-test=user-list] tbody tr').map((r) => r.find('.mono').text())
    expect(names()).toEqual(['vera'])
    await router.replace({ query: { q: 'ED' } })
    await flushPromises()
    expect(names()).toEqual(['ed'])
    expect((wrapper!.get('[data-test=users-search] input').element as HTMLInputElement).value).toBe('ED')
    await router.replace({ query: { q: 'nobody' } })
    await flushPromises()
    expect(wrapper!.get('[data-test=user-list]').text()).toContain('No user matches these filters.')
  })
})
