import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { createMemoryHistory, createRouter } from 'vue-router'
import { defineComponent, ref, shallowRef } from 'vue'
import ExecutionDetailView from '@/views/ExecutionDetailView.vue'
import ExecutionActions from '@/components/execution/ExecutionActions.vue'
import { useAuthStore } from '@/stores/auth'
import type { Execution } from '@/api/executions'

// The live stream is replaced by refs the test drives (useExecutionLog has its own tests).
const stream = vi.hoisted(() => ({ value: null as null | Record<string, unknown> }))
vi.mock('@/composables/useExecutionLog', () => ({ useExecutionLog: () => stream.value }))
vi.mock('element-plus', async (original) => ({
  ...(await original<typeof import('element-plus')>()),
  ElMessage: { success: vi.fn(), error: vi.fn(), warning: vi.fn() },
}))

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
let calls: { url: string; method: string; body?: string }[] = []
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
      calls.push({ url, method: init.method || 'GET', body: init.body as string | undefined })
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
})

const execution = (over: Partial<Execution> = {}): Execution =>
  ({
    id: 12,
    script_id: 2,
    script_name: 'nightly report',
    created_by: 'alice',
    version: 3,
    trigger: 'manual',
    params: { WHO: 'world' },
    status: 'running',
    exit_code: null,
    result: null,
    error: null,
    queued_at: '2026-01-01T10:00:00Z',
    started_at: '2026-01-01T10:00:01Z',
    finished_at: null,
    duration_ms: null,
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
    ...over,
  }) as Execution

function router() {
  const Stub = defineComponent({ template: '<div />' })
  return createRouter({
    history: createMemoryHistory(),
    routes: ['executions', 'execution', 'script', 'schedule'].map((name) => ({
      path: name === 'execution' ? '/executions/:id' : name === 'script' ? '/scripts/:id' : name === 'schedule' ? '/schedules/:id' : '/executions',
      name,
      component: Stub,
    })),
  })
}

async function mountPage(run: Execution, role: 'viewer' | 'editor' = 'viewer') {
  setActivePinia(createPinia())
  const auth = useAuthStore()
  auth.user = { id: 1, username: 'u', full_name: '', role, active: true, created_at: '', last_login_at: null }
  routes[`GET /api/executions/${run.id}`] = () => json(run)
  routes['GET /api/scripts/2'] = () => json({ id: 2, name: 'nightly report', timeout_seconds: 30, max_retries: 2, parameters: [] })
  routes[`GET /api/executions/${run.id}/files`] = () => json({ items: [], total: 0 })
  const r = router()
  await r.push(`/executions/${run.id}`)
  wrapper = mount(ExecutionDetailView, { props: { id: run.id }, global: { plugins: [r], stubs: { RunDialog: true } } })
  await flushPromises()
  return r
}

/** The page's blocks in order, by what they are. */
function blocks(): string[] {
  const out: string[] = []
  for (const el of wrapper!.element.querySelectorAll('[data-test=run-outcome], [data-test=log-view], [data-test=result-view], [data-test=execution-metrics], [data-test=file-browser]')) {
    out.push((el as HTMLElement).dataset.test!)
  }
  return out
}

describe('the run page', () => {
  it('names the browser tab after the run and its script', async () => {
    await mountPage(execution())
    expect(document.title).toBe('Run #12 · nightly report · Scriptman')
  })

  it('keeps the log in its place when the run ends: nothing is inserted above it', async () => {
    await mountPage(execution())
    const live = blocks()
    expect(live).toEqual(['run-outcome', 'log-view', 'result-view', 'execution-metrics', 'file-browser'])
    const logTop = wrapper!.find('[data-test=log-view]').element
    const before = [...wrapper!.element.querySelectorAll('*')].filter((el) => el.compareDocumentPosition(logTop) & Node.DOCUMENT_POSITION_FOLLOWING).length
    ;(stream.value!.status as { value: Execution }).value = execution({
      status: 'failed',
      error: 'exit code 1',
      result: { rows: 3 },
      duration_ms: 800,
      finished_at: '2026-01-01T10:00:02Z',
    })
    await flushPromises()
    expect(blocks()).toEqual(live)
    expect(wrapper!.find('[data-test=run-outcome-title]').text()).toBe('Failed after 800 ms')
    expect(wrapper!.find('[data-test=execution-error]').text()).toBe('exit code 1')
    expect(wrapper!.find('[data-test=show-result]').exists()).toBe(true) // a pointer down to the result
    // the banner changed in place: the same elements precede the log, except its own few lines
    const after = [...wrapper!.element.querySelectorAll('*')].filter((el) => el.compareDocumentPosition(logTop) & Node.DOCUMENT_POSITION_FOLLOWING).length
    expect(Math.abs(after - before)).toBeLessThan(8)
  })

  it('words a timeout once and a cancel neutrally', async () => {
    await mountPage(execution({ status: 'timed_out', error: 'timed out', duration_ms: 30_020 }))
    expect(wrapper!.find('[data-test=run-outcome-title]').text()).toBe("Timed out after 30 s (the script's limit)")
    expect(wrapper!.find('[data-test=execution-error]').exists()).toBe(false)
    wrapper!.unmount()
    await mountPage(execution({ status: 'cancelled', error: 'cancelled' }))
    expect(wrapper!.find('[data-test=run-outcome]').attributes('data-tone')).toBe('neutral')
    expect(wrapper!.find('[data-test=execution-status] .el-tag').classes()).toContain('el-tag--info')
  })

  it('links a failed attempt to its retry and says how the series ended', async () => {
    routes['GET /api/executions?attempts_of=12&per_page=100'] = () =>
      json({
        items: [execution({ status: 'failed', next_attempt_id: 13 }), execution({ id: 13, attempt: 2, retry_of_id: 12, status: 'succeeded' })],
        total: 2,
      })
    await mountPage(execution({ status: 'failed', error: 'exit code 1', duration_ms: 100, next_attempt_id: 13 }))
    const retried = wrapper!.find('[data-test=retried-as]')
    expect(retried.text()).toBe('Retried as run #13 (attempt 2 of 3)')
    expect(retried.find('a').attributes('href')).toBe('/executions/13')
    const series = wrapper!.find('[data-test=series-summary]')
    expect(series.text()).toContain('Series: succeeded at attempt 2 of 3')
    expect(series.findAll('a').map((a) => a.attributes('href'))).toEqual(['/executions/13'])
  })

  it('links a later attempt back to the first, and the series still running', async () => {
    routes['GET /api/executions?attempts_of=13&per_page=100'] = () =>
      json({
        items: [execution({ status: 'failed', next_attempt_id: 13 }), execution({ id: 13, attempt: 2, retry_of_id: 12, status: 'running' })],
        total: 2,
      })
    await mountPage(execution({ id: 13, attempt: 2, retry_of_id: 12, trigger: 'retry' }))
    const first = wrapper!.find('[data-test=first-attempt]')
    expect(first.text()).toBe('Attempt 2 of 3 · first attempt: run #12')
    expect(first.find('a').attributes('href')).toBe('/executions/12')
    expect(wrapper!.find('[data-test=series-summary]').text()).toContain('Series: still running (attempt 2 of 3)')
  })
})

describe('Re-run', () => {
  async function mountActions(run: Execution) {
    setActivePinia(createPinia())
    const auth = useAuthStore()
    auth.user = { id: 1, username: 'u', full_name: '', role: 'editor', active: true, created_at: '', last_login_at: null }
    const r = router()
    await r.push(`/executions/${run.id}`)
    wrapper = mount(ExecutionActions, { props: { execution: run }, global: { plugins: [r], stubs: { RunDialog: true } } })
    return r
  }
  const dialog = () => wrapper!.findComponent({ name: 'RunDialog' })
  /** the dialog's errors to show at fields (a prop of RunDialog once it declares it, else an attribute) */
  const dialogErrors = () => {
    const attrs = dialog().vm.$attrs as Record<string, unknown>
    return dialog().props('initialErrors' as never) ?? attrs['initial-errors'] ?? attrs.initialErrors
  }

  it('opens the run dialog filled in with this run', async () => {
    await mountActions(execution({ status: 'succeeded' }))
    expect(dialog().props('modelValue')).toBe(false)
    wrapper!.findComponent({ name: 'ElDropdown' }).vm.$emit('click')
    await flushPromises()
    expect(dialog().props('modelValue')).toBe(true)
    expect(dialog().props('rerunOf')).toBe(12)
    expect(dialog().props('initialValues')).toEqual({ WHO: 'world' })
    expect(dialog().props('latest')).toBe(false)
    expect(dialog().props('version')).toBe(3)
    expect(calls).toEqual([])
  })

  it('keeps a quick "Re-run as is"', async () => {
    const r = await mountActions(execution({ status: 'succeeded' }))
    routes['POST /api/executions/12/rerun'] = () => json(execution({ id: 20, status: 'queued' }), 202)
    wrapper!.findComponent({ name: 'ElDropdown' }).vm.$emit('command', 'same')
    await flushPromises()
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(['POST /api/executions/12/rerun'])
    expect(r.currentRoute.value.fullPath).toBe('/executions/20')
  })

  it('opens the dialog with the error at the field when the latest version rejects an old value', async () => {
    const r = await mountActions(execution({ status: 'failed' }))
    routes['POST /api/executions/12/rerun?latest=true'] = () =>
      json({ title: 'Unprocessable', status: 422, detail: "params.WHO: 'world' is not one of the choices", field: 'params.WHO' }, 422)
    wrapper!.findComponent({ name: 'ElDropdown' }).vm.$emit('command', 'latest')
    await flushPromises()
    expect(r.currentRoute.value.fullPath).toBe('/executions/12')
    expect(dialog().props('modelValue')).toBe(true)
    expect(dialog().props('latest')).toBe(true)
    expect(dialog().props('version')).toBeNull()
    expect(dialogErrors()).toEqual({ WHO: "'world' is not one of the choices" })
  })
})
