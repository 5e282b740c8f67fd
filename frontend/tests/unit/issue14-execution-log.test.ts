import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import LogViewer from '@/components/LogViewer.vue'
import type { LogLine } from '@/composables/useExecutionLog'

const line = (offset: number, text: string, stream: LogLine['stream'] = 'out'): LogLine => ({ offset, time: '2026-01-01T10:00:00Z', stream, text })
const json = (body: unknown) => new Response(JSON.stringify(body), { headers: { 'Content-Type': 'application/json' } })

let calls: string[] = []
let handler: (url: string) => Response | undefined = () => undefined
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

// The view holds the tail of a big log (offsets from 1000); the first match is before it.
const tail = [line(1000, 'starting'), line(1010, 'an ERROR here', 'err'), line(1030, 'fine'), line(1040, 'error again')]
const match = (offset: number, text: string) => ({ offset, time: '', stream: 'out', text })

async function search(text: string, key: Partial<KeyboardEventInit> = {}) {
  const input = wrapper!.find('input[data-test=log-search]')
  await input.setValue(text)
  await input.trigger('keydown', { key: 'Enter', ...key })
  await flushPromises()
}

describe('log search across the whole log', () => {
  beforeEach(() => {
    handler = (url) => {
      if (url.startsWith('/api/executions/7/logs/search?q=error')) {
        return json({ matches: [match(40, 'early error'), match(1010, 'an ERROR here'), match(1040, 'error again')], total: 3, truncated: false })
      }
      if (url === '/api/executions/7/logs?offset=40&limit=1000') {
        return json({ records: [match(40, 'early error'), match(60, 'after it')], offset: 40, next_offset: 80, size: 2000, complete: false })
      }
      return undefined
    }
  })

  it('counts the matches, jumps with Enter / Shift+Enter and loads a match that is not in view', async () => {
    wrapper = mount(LogViewer, { props: { executionId: 7, state: 'open', lines: tail, truncatedBefore: 1000 } })
    await search('error')
    expect(calls).toContain('/api/executions/7/logs/search?q=error&limit=5000')
    expect(wrapper.find('[data-test=log-search-count]').text()).toBe('1 of 3')
    // the first match is before the view's lines: the page at its offset is loaded and it is marked
    expect(calls).toContain('/api/executions/7/logs?offset=40&limit=1000')
    const pager = wrapper.find('[data-test=log-pager]')
    expect(pager.find('.log-current').text()).toBe('early error')
    expect(pager.find('.log-current mark').text()).toBe('error')

    await wrapper.find('input[data-test=log-search]').trigger('keydown', { key: 'Enter' })
    await flushPromises()
    expect(wrapper.find('[data-test=log-search-count]').text()).toBe('2 of 3')
    expect(wrapper.find('[data-test=log-pager]').exists()).toBe(false) // in the view now
    expect(wrapper.find('[data-test=log-view] .log-current').attributes('data-offset')).toBe('1010')
    expect(wrapper.find('[data-test=log-follow]').exists()).toBe(true) // no longer following the tail

    await wrapper.find('[data-test=log-search-next]').trigger('click')
    await flushPromises()
    expect(wrapper.find('[data-test=log-search-count]').text()).toBe('3 of 3')
    expect(wrapper.find('[data-test=log-view] .log-current').attributes('data-offset')).toBe('1040')

    await wrapper.find('input[data-test=log-search]').trigger('keydown', { key: 'Enter', shiftKey: true })
    await flushPromises()
    expect(wrapper.find('[data-test=log-search-count]').text()).toBe('2 of 3')
    await wrapper.find('[data-test=log-search-next]').trigger('click')
    await wrapper.find('[data-test=log-search-next]').trigger('click') // wraps round to the first
    await flushPromises()
    expect(wrapper.find('[data-test=log-search-count]').text()).toBe('1 of 3')
    expect(wrapper.find('[data-test=log-pager] .log-current').exists()).toBe(true)
  })

  it('says when nothing matches and when more than the limit matched', async () => {
    handler = (url) =>
      url.includes('q=nothing')
        ? json({ matches: [], total: 0, truncated: false })
        : url.includes('q=x')
          ? json({ matches: [match(1000, 'x'), match(1030, 'x')], total: 9000, truncated: true })
          : undefined
    wrapper = mount(LogViewer, { props: { executionId: 7, state: 'ended', lines: tail } })
    await search('nothing')
    expect(wrapper.find('[data-test=log-search-count]').text()).toBe('No matches')
    await search('x')
    expect(wrapper.find('[data-test=log-search-count]').text()).toBe('1 of 2+')
  })
})

describe('log filters', () => {
  it('shows only stderr lines of the whole log, says so, and clears', async () => {
    handler = (url) => {
      if (url === '/api/executions/7/logs?offset=0&limit=1000&stream=stderr') {
        return json({ records: [match(5, 'early problem'), { ...match(1010, 'an ERROR here'), stream: 'err' }], offset: 0, next_offset: 1030, size: 1050, complete: false })
      }
      if (url === '/api/executions/7/logs?offset=1030&limit=1000&stream=stderr') {
        return json({ records: [], offset: 1030, next_offset: 1050, size: 1050, complete: false })
      }
      if (url === '/api/executions/7/logs?offset=1050&limit=1000&stream=stderr') {
        return json({ records: [{ ...match(1050, 'new problem'), stream: 'err' }], offset: 1050, next_offset: 1070, size: 1070, complete: false })
      }
      return undefined
    }
    wrapper = mount(LogViewer, { props: { executionId: 7, state: 'open', lines: tail } })
    expect(wrapper.find('[data-test=log-filter-bar]').exists()).toBe(false)
    await wrapper.find('[data-test=log-stderr-only] input').setValue(true)
    await flushPromises()
    expect(wrapper.find('[data-test=log-filter-bar]').text()).toContain('stderr only')
    expect(wrapper.findAll('[data-test=log-view] .log-line').map((l) => l.text())).toEqual(['early problem', 'an ERROR here'])
    expect(wrapper.find('[data-test=log-count]').text()).toBe('2 matching lines')

    // new output arrives on the live stream: the filtered view reads on from where it stopped
    vi.useFakeTimers()
    await wrapper.setProps({ lines: [...tail, line(1050, 'new problem', 'err')] })
    await vi.advanceTimersByTimeAsync(2000)
    vi.useRealTimers()
    await flushPromises()
    expect(calls).toContain('/api/executions/7/logs?offset=1050&limit=1000&stream=stderr')
    expect(wrapper.findAll('[data-test=log-view] .log-line').map((l) => l.text())).toEqual(['early problem', 'an ERROR here', 'new problem'])

    await wrapper.find('[data-test=log-filter-clear]').trigger('click')
    await flushPromises()
    expect(wrapper.find('[data-test=log-filter-bar]').exists()).toBe(false)
    expect(wrapper.findAll('[data-test=log-view] .log-line')).toHaveLength(5)
  })

  it('filters by level with the logs endpoint and searches within the filter', async () => {
    handler = (url) => {
      if (url.startsWith('/api/executions/7/logs?offset=0&limit=1000&level=warning')) {
        return json({ records: [{ ...match(20, '[ERROR] disk full'), stream: 'err' }], offset: 0, next_offset: 1050, size: 1050, complete: true })
      }
      if (url === '/api/executions/7/logs/search?q=disk&limit=5000&level=warning') {
        return json({ matches: [{ ...match(20, '[ERROR] disk full'), stream: 'err' }], total: 1, truncated: false })
      }
      return undefined
    }
    wrapper = mount(LogViewer, { props: { executionId: 7, state: 'ended', lines: tail } })
    wrapper.findComponent({ name: 'ElSelect' }).vm.$emit('update:modelValue', 'warning')
    await flushPromises()
    expect(wrapper.find('[data-test=log-filter-bar]').text()).toContain('level warning and above')
    const rows = wrapper.findAll('[data-test=log-view] .log-line')
    expect(rows.map((r) => r.text())).toEqual(['[ERROR] disk full'])
    expect(rows[0].classes()).toContain('log-level-error')
    await search('disk')
    expect(wrapper.find('[data-test=log-search-count]').text()).toBe('1 of 1')
    expect(wrapper.find('[data-test=log-view] .log-current').attributes('data-offset')).toBe('20')
  })
})
