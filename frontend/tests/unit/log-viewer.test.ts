import { afterEach, describe, expect, it } from 'vitest'
import { mount, type VueWrapper } from '@vue/test-utils'
import { nextTick } from 'vue'
import LogViewer from '@/components/LogViewer.vue'
import type { LogLine } from '@/composables/useExecutionLog'

const line = (offset: number, text: string, stream: LogLine['stream'] = 'out'): LogLine => ({
  offset,
  time: '2026-01-01T10:00:00.250Z',
  stream,
  text,
})

let wrapper: VueWrapper | null = null
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
})

function fakeLayout(el: HTMLElement, height: { scroll: number; client: number }) {
  Object.defineProperty(el, 'scrollHeight', { configurable: true, get: () => height.scroll })
  Object.defineProperty(el, 'clientHeight', { configurable: true, get: () => height.client })
}

describe('LogViewer', () => {
  it('renders one element per line, marks stderr and sys, and escapes text', () => {
    wrapper = mount(LogViewer, {
      props: {
        executionId: 1,
        state: 'open',
        lines: [line(0, 'hello'), line(10, '<script>alert(1)</script>', 'err'), line(40, 'installing', 'sys')],
      },
    })
    const rows = wrapper.findAll('[data-test=log-view] .log-line')
    expect(rows).toHaveLength(3)
    expect(rows[1].classes()).toContain('log-err')
    expect(rows[2].classes()).toContain('log-sys')
    expect(rows[0].classes()).not.toContain('log-err')
    expect(wrapper.find('[data-test=log-view] script').exists()).toBe(false)
    expect(rows[1].text()).toBe('<script>alert(1)</script>')
    expect(rows[1].attributes('data-prefix')).toMatch(/^\d\d:\d\d:00\.250 ERR$/)
    expect(rows[2].attributes('data-prefix')).toMatch(/ SYS$/)
    expect(wrapper.find('[data-test=log-state]').text()).toBe('Live')
  })

  it('renders ANSI colours and the last \\r segment', () => {
    wrapper = mount(LogViewer, { props: { executionId: 1, lines: [line(0, '\u001b[32mok\u001b[0m 1%\r\u001b[32mok\u001b[0m 100%')] } })
    const text = wrapper.find('.log-line')
    expect(text.find('.ansi-green-fg').text()).toBe('ok')
    expect(text.text()).toBe('ok 100%')
  })

  it('hides timestamps and wraps on demand', async () => {
    wrapper = mount(LogViewer, { props: { executionId: 1, lines: [line(0, 'x')] } })
    const boxes = wrapper.findAll('input[type=checkbox]')
    await boxes[0].setValue(false)
    expect(wrapper.find('.log-line').attributes('data-prefix')).toBe('   ')
    await boxes[1].setValue(true)
    expect(wrapper.find('[data-test=log-view]').classes()).toContain('log-wrap')
  })

  it('follows new lines at the bottom, pauses when scrolled up, and jumps back', async () => {
    wrapper = mount(LogViewer, { props: { executionId: 1, lines: [line(0, 'a')] }, attachTo: document.body })
    const view = wrapper.find('[data-test=log-view]').element as HTMLElement
    const layout = { scroll: 1000, client: 200 }
    fakeLayout(view, layout)

    await wrapper.setProps({ lines: [line(0, 'a'), line(10, 'b')] })
    expect(view.scrollTop).toBe(1000) // followed
    expect(wrapper.find('[data-test=log-follow]').exists()).toBe(false)

    view.scrollTop = 100 // the user scrolls up
    await wrapper.find('[data-test=log-view]').trigger('scroll')
    expect(wrapper.find('[data-test=log-follow]').exists()).toBe(true)

    layout.scroll = 1500
    await wrapper.setProps({ lines: [line(0, 'a'), line(10, 'b'), line(20, 'c')] })
    expect(view.scrollTop).toBe(100) // paused: stays where the user is

    await wrapper.find('[data-test=log-follow]').trigger('click')
    await nextTick()
    expect(view.scrollTop).toBe(1500)
    expect(wrapper.find('[data-test=log-follow]').exists()).toBe(false)
  })

  it('offers earlier output when lines were dropped', async () => {
    wrapper = mount(LogViewer, { props: { executionId: 6, lines: [line(5000, 'late')], truncatedBefore: 5000 } })
    const banner = wrapper.find('[data-test=log-truncated]')
    expect(banner.text()).toContain('4.9 KB of earlier output')
    expect(banner.find('a').attributes('href')).toBe('/api/executions/6/logs?format=text')
    const download = wrapper.find('[data-test=log-download]')
    expect(download.element.tagName).toBe('A')
    expect(download.attributes('href')).toBe('/api/executions/6/logs?format=text')
  })

  it('shows placeholders and stream errors', async () => {
    wrapper = mount(LogViewer, { props: { executionId: 1, lines: [], state: 'ended' } })
    expect(wrapper.text()).toContain('No output.')
    await wrapper.setProps({ state: 'error', error: 'This execution no longer exists.' })
    expect(wrapper.text()).toContain('This execution no longer exists.')
    await wrapper.find('.el-alert button').trigger('click')
    expect(wrapper.emitted('retry')).toHaveLength(1)
  })
})
