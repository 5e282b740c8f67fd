import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { createMemoryHistory, createRouter } from 'vue-router'
import { defineComponent } from 'vue'
import ExecutionActions from '@/components/execution/ExecutionActions.vue'
import LogPager from '@/components/execution/LogPager.vue'
import JsonView from '@/components/JsonView.vue'
import { useAuthStore } from '@/stores/auth'
import type { Execution } from '@/api/executions'

const confirm = vi.fn()
vi.mock('element-plus', async (original) => ({
  ...(await original<typeof import('element-plus')>()),
  ElMessageBox: { confirm: (...args: unknown[]) => confirm(...args) },
  ElMessage: { success: vi.fn(), error: vi.fn() },
}))

type Call = { url: string; method: string }
let calls: Call[] = []
let handler: (url: string, method: string) => Response = () => new Response(null, { status: 204 })
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

beforeEach(() => {
  calls = []
  confirm.mockReset()
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const method = init.method || 'GET'
      calls.push({ url, method })
      return handler(url, method)
    }),
  )
})
let wrapper: VueWrapper | null = null
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.unstubAllGlobals()
})

const run = (status: Execution['status']) => ({ id: 4, script_id: 2, version: 3, status }) as Execution

describe('ExecutionActions', () => {
  async function mountAs(role: 'viewer' | 'editor', status: Execution['status']) {
    setActivePinia(createPinia())
    const auth = useAuthStore()
    auth.user = { id: 1, username: 'u', full_name: '', role, active: true, created_at: '', last_login_at: null }
    const Stub = defineComponent({ template: '<div />' })
    const router = createRouter({
      history: createMemoryHistory(),
      routes: [
        { path: '/executions', name: 'executions', component: Stub },
        { path: '/executions/:id', name: 'execution', component: Stub },
      ],
    })
    await router.push('/executions/4')
    wrapper = mount(ExecutionActions, { props: { execution: run(status) }, global: { plugins: [router] } })
    return router
  }

  it('shows nothing to viewers', async () => {
    await mountAs('viewer', 'running')
    expect(wrapper!.find('button').exists()).toBe(false)
  })

  it('offers Stop while running and Delete only when finished', async () => {
    await mountAs('editor', 'running')
    expect(wrapper!.find('[data-test=cancel-run]').exists()).toBe(true)
    expect(wrapper!.find('[data-test=delete-run]').exists()).toBe(false)
    await wrapper!.setProps({ execution: run('failed') })
    expect(wrapper!.find('[data-test=cancel-run]').exists()).toBe(false)
    expect(wrapper!.find('[data-test=delete-run]').exists()).toBe(true)
  })

  it('stops only after confirmation', async () => {
    await mountAs('editor', 'running')
    handler = () => json({ ...run('cancelled') })
    confirm.mockRejectedValueOnce('cancel')
    await wrapper!.find('[data-test=cancel-run]').trigger('click')
    await flushPromises()
    expect(calls).toEqual([])
    confirm.mockResolvedValueOnce('confirm')
    await wrapper!.find('[data-test=cancel-run]').trigger('click')
    await flushPromises()
    expect(calls).toEqual([{ url: '/api/executions/4/cancel', method: 'POST' }])
    expect((wrapper!.emitted('updated')![0][0] as Execution).status).toBe('cancelled')
  })

  it('re-runs the latest version and opens the new execution', async () => {
    const router = await mountAs('editor', 'succeeded')
    handler = () => json({ ...run('queued'), id: 9 }, 202)
    wrapper!.findComponent({ name: 'ElDropdown' }).vm.$emit('command', 'latest')
    await flushPromises()
    expect(calls).toEqual([{ url: '/api/executions/4/rerun?latest=true', method: 'POST' }])
    expect(router.currentRoute.value.fullPath).toBe('/executions/9')
  })

  it('deletes after confirmation and goes back to the script history', async () => {
    const router = await mountAs('editor', 'succeeded')
    confirm.mockResolvedValueOnce('confirm')
    await wrapper!.find('[data-test=delete-run]').trigger('click')
    await flushPromises()
    expect(calls).toEqual([{ url: '/api/executions/4', method: 'DELETE' }])
    expect(router.currentRoute.value.fullPath).toBe('/executions?script_id=2')
  })
})

describe('LogPager', () => {
  const rec = (offset: number, stream = 'out') => ({ offset, time: '', stream, text: `at ${offset}` })

  it('pages forward from the start and stops where the live window begins', async () => {
    handler = (url) => {
      if (url.includes('offset=0&')) return json({ records: [rec(0), rec(10, 'prg'), rec(20)], offset: 0, next_offset: 30, size: 90, complete: false })
      if (url.includes('offset=30&')) return json({ records: [rec(30, 'err'), rec(40), rec(50)], offset: 30, next_offset: 60, size: 90, complete: false })
      return json({ title: 'x', status: 500 }, 500)
    }
    wrapper = mount(LogPager, { props: { executionId: 5, before: 50, showTime: false, wrap: false } })
    await flushPromises()
    expect(calls[0].url).toBe('/api/executions/5/logs?offset=0&limit=1000')
    expect(wrapper.findAll('.log-line').map((l) => l.text())).toEqual(['at 0', 'at 20'])
    await wrapper.find('[data-test=log-pager-next]').trigger('click')
    await flushPromises()
    expect(wrapper.findAll('.log-line').map((l) => l.text())).toEqual(['at 30', 'at 40'])
    expect(wrapper.find('.log-err').exists()).toBe(true)
    expect(wrapper.text()).toContain('The log below continues from here.')
    expect(wrapper.find('[data-test=log-pager-next]').attributes('disabled')).toBeDefined()
    const previous = wrapper.findAll('button').find((b) => b.text() === 'Previous')!
    await previous.trigger('click')
    await flushPromises()
    expect(wrapper.findAll('.log-line').map((l) => l.text())).toEqual(['at 0', 'at 20'])
  })
})

describe('JsonView', () => {
  it('shows a tree that can collapse, and the raw JSON', async () => {
    wrapper = mount(JsonView, { props: { value: { ok: true, rows: [1, 2], name: '<b>x</b>' } } })
    expect(wrapper.text()).toContain('"ok": true')
    expect(wrapper.text()).toContain('"<b>x</b>"')
    expect(wrapper.find('b').exists()).toBe(false)
    const collapse = wrapper.findAll('button').find((b) => b.text() === 'Collapse')!
    await collapse.trigger('click')
    expect(wrapper.text()).toContain('"rows": [2 items]') // top level stays open
    await wrapper.find('input[value=raw]').setValue(true)
    expect(wrapper.find('pre').text()).toBe(JSON.stringify({ ok: true, rows: [1, 2], name: '<b>x</b>' }, null, 2))
  })

  it('prints a plain value as is', () => {
    wrapper = mount(JsonView, { props: { value: 42 } })
    expect(wrapper.find('pre').text()).toBe('42')
  })
})
