import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { createMemoryHistory, createRouter } from 'vue-router'
import { defineComponent, ref, shallowRef } from 'vue'
import ExecutionDetailView from '@/views/ExecutionDetailView.vue'
import ChainLinks from '@/components/execution/ChainLinks.vue'
import { triggerLabel } from '@/components/execution/labels'
import { EXECUTION_TRIGGERS, type Delivery, type Execution } from '@/api/executions'
import { useAuthStore } from '@/stores/auth'

const stream = vi.hoisted(() => ({ value: null as null | Record<string, unknown> }))
vi.mock('@/composables/useExecutionLog', () => ({ useExecutionLog: () => stream.value }))
vi.mock('element-plus', async (original) => ({
  ...(await original<typeof import('element-plus')>()),
  ElMessage: { success: vi.fn(), error: vi.fn(), warning: vi.fn() },
}))

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
let calls: { url: string; method: string }[] = []
let routes: Record<string, () => Response> = {}
beforeEach(() => {
  calls = []
  routes = {}
  stream.value = {
    lines: shallowRef([{ offset: 0, time: '', stream: 'out', text: 'hello' }]),
    status: ref<Execution | null>(null),
    progress: ref(null),
    state: ref('open'),
    error: ref(null),
    truncatedBefore: ref(null),
    open: vi.fn(),
  }
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      calls.push({ url, method: init.method || 'GET' })
      const route = routes[`${init.method || 'GET'} ${url}`]
      return route ? route() : json({ title: 'Not Found', status: 404 }, 404)
    }),
  )
})
let wrapper: VueWrapper | null = null
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.unstubAllGlobals()
  vi.useRealTimers()
})

const execution = (over: Partial<Execution> = {}): Execution =>
  ({
    id: 12,
    script_id: 2,
    script_name: 'load',
    created_by: 'alice',
    version: 3,
    trigger: 'manual',
    params: {},
    status: 'succeeded',
    exit_code: 0,
    result: null,
    error: null,
    queued_at: '2026-01-01T10:00:00Z',
    started_at: '2026-01-01T10:00:01Z',
    finished_at: '2026-01-01T10:00:02Z',
    duration_ms: 1000,
    peak_memory_kb: null,
    cpu_time_ms: null,
    attempt: 1,
    retry_of_id: null,
    rerun_of_id: null,
    next_attempt_id: null,
    schedule_id: null,
    progress: null,
    progress_message: null,
    sandboxed: false,
    upstream_execution_id: null,
    downstream: [],
    variables: [],
    ...over,
  }) as Execution

const delivery = (over: Partial<Delivery> = {}): Delivery => ({
  id: 1,
  channel_id: 4,
  channel_name: 'ops mail',
  channel_type: 'email',
  execution_id: 12,
  event: 'failure',
  status: 'sent',
  attempts: 1,
  next_attempt_at: null,
  last_error: null,
  response_status: 250,
  created_at: '2026-01-01T10:00:03Z',
  sent_at: '2026-01-01T10:00:04Z',
  ...over,
})

function router() {
  const Stub = defineComponent({ template: '<div />' })
  return createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/executions', name: 'executions', component: Stub },
      { path: '/executions/:id', name: 'execution', component: Stub },
      { path: '/scripts/:id', name: 'script', component: Stub },
      { path: '/schedules/:id', name: 'schedule', component: Stub },
    ],
  })
}

async function mountPage(run: Execution, script: Record<string, unknown> = {}) {
  setActivePinia(createPinia())
  useAuthStore().user = { id: 1, username: 'u', full_name: '', role: 'viewer', active: true, created_at: '', last_login_at: null }
  routes[`GET /api/executions/${run.id}`] ??= () => json(run)
  routes[`GET /api/scripts/${run.script_id}`] ??= () =>
    json({ id: run.script_id, name: run.script_name, timeout_seconds: 30, max_retries: 0, parameters: [], on_success: [], on_failure: [], ...script })
  routes[`GET /api/executions/${run.id}/files`] ??= () => json({ items: [], total: 0 })
  const r = router()
  await r.push(`/executions/${run.id}`)
  wrapper = mount(ExecutionDetailView, { props: { id: run.id }, global: { plugins: [r], stubs: { RunDialog: true } } })
  await flushPromises()
  return r
}
const text = (selector: string) => wrapper!.find(selector).text().replace(/\s+/g, ' ')
const after = (a: string, b: string) =>
  !!(wrapper!.find(a).element.compareDocumentPosition(wrapper!.find(b).element) & Node.DOCUMENT_POSITION_FOLLOWING)

describe('triggers of issue 15', () => {
  it('names webhook and chain runs, and the history filters on them', () => {
    expect(triggerLabel('webhook')).toBe('Webhook')
    expect(triggerLabel('chain')).toBe('Chain')
    expect(EXECUTION_TRIGGERS).toEqual(expect.arrayContaining(['webhook', 'chain']))
  })
})

describe('chain links', () => {
  it('links a chained run to the run that started it, with its script and outcome', async () => {
    routes['GET /api/executions/11'] = () => json(execution({ id: 11, script_id: 1, script_name: 'extract', status: 'succeeded' }))
    const r = router()
    await r.push('/executions/12')
    wrapper = mount(ChainLinks, { props: { execution: execution({ upstream_execution_id: 11 }) }, global: { plugins: [r] } })
    await flushPromises()
    expect(text('[data-test=chain-upstream]')).toBe('Started by run #11 (extract) on success')
    expect(wrapper.find('[data-test=chain-upstream-link]').attributes('href')).toBe('/executions/11')
    expect(wrapper.find('[data-test=chain-downstream]').exists()).toBe(false)
  })

  it('says "on failure" for a failed upstream, and names a deleted one by number', async () => {
    routes['GET /api/executions/11'] = () => json(execution({ id: 11, script_name: 'extract', status: 'timed_out' }))
    const r = router()
    wrapper = mount(ChainLinks, { props: { execution: execution({ upstream_execution_id: 11 }) }, global: { plugins: [r] } })
    await flushPromises()
    expect(text('[data-test=chain-upstream]')).toBe('Started by run #11 (extract) on failure')
    await wrapper.setProps({ execution: execution({ upstream_execution_id: 9 }) })
    await flushPromises()
    expect(text('[data-test=chain-upstream]')).toBe('Started by run #9 (no longer available)')
  })

  it('lists the runs it started next with their status, and shows nothing for an unchained run', async () => {
    const r = router()
    wrapper = mount(ChainLinks, {
      props: {
        execution: execution({
          downstream: [
            { id: 13, script_id: 3, script_name: 'report', status: 'running' },
            { id: 14, script_id: 4, script_name: null, status: 'timed_out' },
          ],
        }),
      },
      global: { plugins: [r] },
    })
    await flushPromises()
    expect(text('[data-test=chain-downstream]')).toBe('Started next: report #13 (running), Script #4 #14 (timed out)')
    expect(wrapper.findAll('[data-test=chain-downstream-link]').map((a) => a.attributes('href'))).toEqual(['/executions/13', '/executions/14'])
    expect(calls).toEqual([]) // no upstream to read
    await wrapper.setProps({ execution: execution() })
    expect(wrapper.find('[data-test=chain-links]').exists()).toBe(false)
  })
})

describe('the run page (issue 15)', () => {
  it('shows the chain, the shared variables and the notifications below the log', async () => {
    routes['GET /api/executions/11'] = () => json(execution({ id: 11, script_id: 1, script_name: 'extract', status: 'failed' }))
    routes['GET /api/executions/12/notifications'] = () =>
      json({
        items: [
          delivery(),
          delivery({ id: 2, channel_name: null, channel_type: null, event: 'recovery', status: 'failed', attempts: 5, last_error: 'HTTP 500 from receiver', response_status: 500 }),
        ],
        total: 2,
      })
    await mountPage(
      execution({
        trigger: 'chain',
        upstream_execution_id: 11,
        variables: ['DB_URL', 'API_KEY'],
        downstream: [{ id: 13, script_id: 3, script_name: 'report', status: 'queued' }],
      }),
    )
    expect(text('.meta')).toContain('Chain')
    expect(text('[data-test=chained-from]')).toBe('chained from run #11')
    expect(text('[data-test=chain-upstream]')).toBe('Started by run #11 (extract) on failure')
    expect(text('[data-test=chain-downstream]')).toBe('Started next: report #13 (queued)')
    expect(wrapper!.findAll('[data-test=execution-variables] .el-tag').map((t) => t.text())).toEqual(['DB_URL', 'API_KEY'])
    const rows = wrapper!.findAll('[data-test=delivery-list] .el-table__body tr')
    expect(rows).toHaveLength(2)
    expect(rows[0].text()).toContain('ops mail')
    expect(rows[0].text()).toContain('E-mail')
    expect(rows[0].text()).toContain('Failure')
    expect(rows[0].find('[data-test=delivery-status]').text()).toBe('sent')
    expect(rows[1].text()).toContain('Channel #4 (deleted)')
    expect(rows[1].text()).toContain('Recovery')
    expect(rows[1].find('[data-test=delivery-status]').text()).toBe('failed')
    expect(rows[1].find('[data-test=delivery-attempts]').text()).toBe('5')
    expect(rows[1].find('[data-test=delivery-error]').text()).toBe('HTTP 500 from receiver')
    // issue 14's rule: nothing of this above the log
    expect(after('[data-test=log-view]', '[data-test=chain-links]')).toBe(true)
    expect(after('[data-test=log-view]', '[data-test=deliveries]')).toBe(true)
    expect(after('[data-test=log-view]', '[data-test=execution-variables]')).toBe(true)
  })

  it('shows no notifications block for a run that sent none, and asks nothing while the run is live', async () => {
    routes['GET /api/executions/12/notifications'] = () => json({ items: [], total: 0 })
    await mountPage(execution({ status: 'running', finished_at: null, exit_code: null, duration_ms: null }))
    expect(calls.some((c) => c.url.endsWith('/notifications'))).toBe(false)
    expect(wrapper!.find('[data-test=deliveries]').exists()).toBe(false)
    expect(wrapper!.find('[data-test=chain-links]').exists()).toBe(false)
    expect(wrapper!.find('[data-test=execution-variables]').exists()).toBe(false)
  })

  it('follows a pending delivery until it is sent', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true })
    let answer = delivery({ status: 'pending', attempts: 1, last_error: 'connection refused', next_attempt_at: '2026-01-01T10:00:10Z', sent_at: null })
    routes['GET /api/executions/12/notifications'] = () => json({ items: [answer], total: 1 })
    await mountPage(execution())
    expect(wrapper!.find('[data-test=delivery-status]').text()).toBe('pending')
    answer = delivery({ attempts: 2 })
    await vi.advanceTimersByTimeAsync(3500)
    await flushPromises()
    expect(wrapper!.find('[data-test=delivery-status]').text()).toBe('sent')
    expect(wrapper!.find('[data-test=delivery-attempts]').text()).toBe('2')
    const asked = calls.filter((c) => c.url.endsWith('/notifications')).length
    await vi.advanceTimersByTimeAsync(60_000)
    expect(calls.filter((c) => c.url.endsWith('/notifications')).length).toBe(asked) // old run, all sent: done
  })

  it('asks again for the next run when the run ended before its chain started it', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true })
    const ended = new Date().toISOString()
    let current = execution({ finished_at: ended })
    routes['GET /api/executions/12'] = () => json(current)
    routes['GET /api/executions/12/notifications'] = () => json({ items: [], total: 0 })
    await mountPage(current, { on_success: [3] })
    expect(wrapper!.find('[data-test=chain-downstream]').exists()).toBe(false)
    current = execution({ finished_at: ended, downstream: [{ id: 13, script_id: 3, script_name: 'report', status: 'queued' }] })
    await vi.advanceTimersByTimeAsync(1000)
    await flushPromises()
    expect(text('[data-test=chain-downstream]')).toBe('Started next: report #13 (queued)')
    const reads = calls.filter((c) => c.url === '/api/executions/12').length
    await vi.advanceTimersByTimeAsync(30_000)
    expect(calls.filter((c) => c.url === '/api/executions/12').length).toBe(reads)
  })

  it('does not wait for a next run the script does not start', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true })
    routes['GET /api/executions/12/notifications'] = () => json({ items: [], total: 0 })
    await mountPage(execution({ finished_at: new Date().toISOString() }), { on_failure: [3] })
    const reads = calls.filter((c) => c.url === '/api/executions/12').length
    await vi.advanceTimersByTimeAsync(30_000)
    expect(calls.filter((c) => c.url === '/api/executions/12').length).toBe(reads)
  })
})
