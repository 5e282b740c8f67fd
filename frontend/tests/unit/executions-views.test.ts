import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createMemoryHistory, createRouter, type Router } from 'vue-router'
import { defineComponent } from 'vue'
import FileBrowser from '@/components/FileBrowser.vue'
import ExecutionsView from '@/views/ExecutionsView.vue'
import type { Execution } from '@/api/executions'

type Handler = (url: string) => Response | undefined
let calls: string[] = []
let handler: Handler = () => undefined
const json = (body: unknown) => new Response(JSON.stringify(body), { headers: { 'Content-Type': 'application/json' } })

beforeEach(() => {
  calls = []
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) => {
      calls.push(url)
      return handler(url) ?? new Response('{"title":"Not Found","status":404}', { status: 404 })
    }),
  )
})
let wrapper: VueWrapper | null = null
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

const file = (path: string, size = 10, is_dir = false) => ({ path, size, modified: '2026-01-01T00:00:00Z', is_dir, is_symlink: false })

describe('FileBrowser', () => {
  beforeEach(() => {
    handler = (url) => {
      if (url === '/api/executions/3/files')
        return json({ items: [file('out', 0, true), file('out/report 1.csv'), file('img.png'), file('data.bin'), file('r.json')], total: 5 })
      if (url === '/api/executions/3/files/out/report%201.csv') return new Response('a,b\n1,<2>', { headers: { 'Content-Type': 'text/plain' } })
      if (url === '/api/executions/3/files/r.json') return json({ ok: true })
      return undefined
    }
  })

  it('lists files with download links and the zip', async () => {
    wrapper = mount(FileBrowser, { props: { executionId: 3 } })
    await flushPromises()
    const rows = wrapper.findAll('[data-test=file-row]')
    expect(rows.map((r) => r.attributes('data-path'))).toEqual(['out/report 1.csv', 'img.png', 'data.bin', 'r.json'])
    const link = wrapper.find('[data-test=download-file][data-path="out/report 1.csv"]')
    expect(link.attributes('href')).toBe('/api/executions/3/files/out/report%201.csv?download=1')
    expect(link.attributes('download')).toBeDefined()
    expect(wrapper.find('[data-test=download-zip]').attributes('href')).toBe('/api/executions/3/archive')
  })

  it('previews text, JSON and images, and says when it cannot', async () => {
    wrapper = mount(FileBrowser, { props: { executionId: 3 } })
    await flushPromises()
    const preview = () => wrapper!.find('[data-test=file-preview]')
    await wrapper.find('[data-path="out/report 1.csv"]').trigger('click')
    await flushPromises()
    expect(preview().findAll('th').map((c) => c.text())).toEqual(['a', 'b'])
    expect(preview().findAll('td').map((c) => c.text())).toEqual(['1', '<2>'])
    await wrapper.find('[data-test=file-row][data-path="r.json"]').trigger('click')
    await flushPromises()
    expect(preview().find('pre').text()).toBe('{\n  "ok": true\n}')
    await wrapper.find('[data-test=file-row][data-path="img.png"]').trigger('click')
    expect(preview().find('img').attributes('src')).toBe('/api/executions/3/files/img.png')
    await wrapper.find('[data-test=file-row][data-path="data.bin"]').trigger('click')
    expect(preview().text()).toContain('No preview')
  })

  it('reloads when the run finishes', async () => {
    wrapper = mount(FileBrowser, { props: { executionId: 3, finished: false } })
    await flushPromises()
    expect(calls.filter((c) => c === '/api/executions/3/files')).toHaveLength(1)
    await wrapper.setProps({ finished: true })
    await flushPromises()
    expect(calls.filter((c) => c === '/api/executions/3/files')).toHaveLength(2)
  })
})

const execution = (id: number, status: Execution['status']): Partial<Execution> => ({
  id,
  script_id: 2,
  script_name: 'hello',
  version: 1,
  trigger: 'manual',
  status,
  attempt: 1,
  queued_at: '2026-01-01T00:00:00Z',
  started_at: '2026-01-01T00:00:01Z',
  duration_ms: status === 'running' ? null : 1500,
  peak_memory_kb: 2048,
})

describe('ExecutionsView', () => {
  let router: Router
  const Stub = defineComponent({ template: '<div />' })

  async function mountAt(path: string) {
    router = createRouter({
      history: createMemoryHistory(),
      routes: [
        { path: '/executions', name: 'executions', component: ExecutionsView },
        { path: '/executions/:id', name: 'execution', component: Stub },
        { path: '/scripts/:id', name: 'script', component: Stub },
        { path: '/scripts', name: 'scripts', component: Stub },
      ],
    })
    await router.push(path)
    await router.isReady()
    wrapper = mount(ExecutionsView, { global: { plugins: [router] }, attachTo: document.body })
  }

  it('reads the filters from the URL and links each row', async () => {
    handler = (url) => {
      if (url.startsWith('/api/executions')) return json({ items: [execution(5, 'failed')], total: 1, page: 1, per_page: 50 })
      if (url.startsWith('/api/scripts')) return json({ items: [{ id: 2, name: 'hello' }], total: 1 })
      return undefined
    }
    await mountAt('/executions?script_id=2&status=failed&trigger=bogus')
    await flushPromises()
    expect(calls).toContain('/api/executions?script_id=2&status=failed&page=1&per_page=50')
    const link = wrapper!.find('[data-test=executions-table] [data-test=execution-link]')
    expect(link.attributes('href')).toBe('/executions/5')
    expect(wrapper!.find('[data-test=executions-table]').text()).toContain('2.0 MB')
  })

  it('polls while a row is running and stops when all are final or the page is gone', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    let status: Execution['status'] = 'running'
    handler = (url) => {
      if (url.startsWith('/api/executions')) return json({ items: [execution(7, status)], total: 1, page: 1, per_page: 50 })
      if (url.startsWith('/api/scripts')) return json({ items: [], total: 0 })
      return undefined
    }
    await mountAt('/executions')
    await flushPromises()
    const lists = () => calls.filter((c) => c.startsWith('/api/executions')).length
    expect(lists()).toBe(1)
    await vi.advanceTimersByTimeAsync(3100)
    await flushPromises()
    expect(lists()).toBe(2)
    status = 'succeeded'
    await vi.advanceTimersByTimeAsync(3100)
    await flushPromises()
    expect(lists()).toBe(3)
    await vi.advanceTimersByTimeAsync(10000)
    expect(lists()).toBe(3) // nothing live any more

    status = 'running'
    await wrapper!.find('.page-header button').trigger('click') // Refresh
    await flushPromises()
    expect(lists()).toBe(4)
    wrapper!.unmount()
    wrapper = null
    await vi.advanceTimersByTimeAsync(10000)
    expect(lists()).toBe(4)
  })
})
