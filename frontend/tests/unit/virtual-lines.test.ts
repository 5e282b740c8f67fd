import { afterEach, describe, expect, it } from 'vitest'
import { mount, type VueWrapper } from '@vue/test-utils'
import { nextTick } from 'vue'
import LogViewer from '@/components/LogViewer.vue'
import type { LogLine } from '@/composables/useExecutionLog'

const ROW = 18.75
/** lines with offsets first, first+10, … */
const make = (first: number, count: number): LogLine[] =>
  Array.from({ length: count }, (_, i) => ({
    offset: first + i * 10,
    time: '2026-01-01T10:00:00.250Z',
    stream: 'out' as const,
    text: `line ${(first + i * 10) / 10}`,
  }))

let wrapper: VueWrapper | null = null
const restore: Array<() => void> = []
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  while (restore.length) restore.pop()!()
})

function stub<T extends object>(proto: T, name: string, get: (this: HTMLElement) => unknown): void {
  const original = Object.getOwnPropertyDescriptor(proto, name)
  Object.defineProperty(proto, name, { configurable: true, get })
  restore.push(() => (original ? Object.defineProperty(proto, name, original) : delete (proto as Record<string, unknown>)[name]))
}

/**
 * A layout: each line is one row of `state.row` px, a spacer its style height, stacked in DOM order;
 * the scroller shows `client` px of the whole list.
 */
function fakeLayout(view: HTMLElement, state: { row: number; client: number; count: () => number }) {
  Object.defineProperty(view, 'clientHeight', { configurable: true, get: () => state.client })
  Object.defineProperty(view, 'scrollHeight', { configurable: true, get: () => state.count() * state.row })
  let top = 0
  Object.defineProperty(view, 'scrollTop', {
    configurable: true,
    get: () => top,
    set: (value: number) => {
      top = Math.max(0, Math.min(value, state.count() * state.row - state.client))
    },
  })
  stub(HTMLElement.prototype, 'offsetTop', function () {
    if (!this.classList.contains('log-line')) return 0
    let top = 0
    for (let el = this.previousElementSibling as HTMLElement | null; el; el = el.previousElementSibling as HTMLElement | null) {
      top += el.classList.contains('log-line') ? state.row : parseFloat(el.style.height) || 0
    }
    return top
  })
  stub(HTMLElement.prototype, 'offsetHeight', function () {
    return this.classList.contains('log-line') ? state.row : 0
  })
}

const rows = () => wrapper!.findAll('[data-test=log-view] .log-line')
const spacers = () =>
  wrapper!.findAll('[data-test=log-view] .log-spacer').map((s) => parseFloat((s.element as HTMLElement).style.height))

describe('LogViewer windowed rendering', () => {
  it('renders every line of a short log', () => {
    wrapper = mount(LogViewer, { props: { executionId: 1, lines: make(0, 150) } })
    expect(rows()).toHaveLength(150)
    expect(spacers()).toEqual([])
  })

  it('renders only the lines near the viewport of a long log, following the tail', async () => {
    wrapper = mount(LogViewer, { props: { executionId: 1, lines: make(0, 10) }, attachTo: document.body })
    const view = wrapper.find('[data-test=log-view]').element as HTMLElement
    let lines = make(0, 5000)
    fakeLayout(view, { row: ROW, client: 200, count: () => lines.length })

    await wrapper.setProps({ lines })
    await nextTick()
    const shown = rows()
    expect(shown.length).toBeLessThanOrEqual(11 + 1 + 50 + 1)
    expect(shown.length).toBeGreaterThan(11)
    expect(shown[shown.length - 1].text()).toBe('line 4999')
    expect(shown[shown.length - 1].attributes('data-prefix')).toMatch(/^\d\d:\d\d:00\.250 {4}$/)
    const [before, after = 0] = spacers()
    expect(before + after + shown.length * ROW).toBeCloseTo(5000 * ROW)
    expect(view.scrollTop).toBe(5000 * ROW - 200)
    expect(wrapper.find('[data-test=log-follow]').exists()).toBe(false)

    // more output: still at the end
    lines = make(0, 5000).slice(1000).concat(make(50000, 1000))
    await wrapper.setProps({ lines })
    await nextTick()
    expect(rows().at(-1)!.text()).toBe('line 5999')
    expect(rows().length).toBeLessThanOrEqual(63)
  })

  it('moves the window with the scroll position and keeps a paused view on its line as old lines drop', async () => {
    wrapper = mount(LogViewer, { props: { executionId: 1, lines: make(0, 10) }, attachTo: document.body })
    const view = wrapper.find('[data-test=log-view]').element as HTMLElement
    const state = { row: ROW, client: 200, count: () => 0 }
    let lines = make(0, 5000)
    state.count = () => lines.length
    fakeLayout(view, state)
    await wrapper.setProps({ lines })
    await nextTick()

    view.scrollTop = 2000 * ROW + 5 // the user scrolls up to line 2000
    await wrapper.find('[data-test=log-view]').trigger('scroll')
    await nextTick()
    expect(wrapper.find('[data-test=log-follow]').exists()).toBe(true)
    const texts = rows().map((r) => r.text())
    expect(texts).toContain('line 1950')
    expect(texts).toContain('line 2000')
    expect(texts).toContain('line 2060')
    expect(texts).not.toContain('line 1940')
    expect(texts).not.toContain('line 4999')
    expect(spacers()[0]).toBeCloseTo(1950 * ROW)

    // 1000 lines dropped above, 1000 added below: line 2000 is now at index 1000
    lines = make(0, 5000).slice(1000).concat(make(50000, 1000))
    await wrapper.setProps({ lines })
    await nextTick()
    expect(view.scrollTop).toBeCloseTo(1000 * ROW + 5)
    const after = rows().map((r) => r.text())
    expect(after).toContain('line 2000')
    expect(after).not.toContain('line 5999')

    await wrapper.find('[data-test=log-follow]').trigger('click')
    await nextTick()
    expect(view.scrollTop).toBe(5000 * ROW - 200)
    expect(rows().at(-1)!.text()).toBe('line 5999')
  })

  it('measures the row height from a rendered line', async () => {
    stub(HTMLElement.prototype, 'getBoundingClientRect', function () {
      const height = this.classList.contains('log-line') ? 20 : 0
      return () => ({ height, width: 0, top: 0, left: 0, right: 0, bottom: height, x: 0, y: 0 })
    })
    wrapper = mount(LogViewer, { props: { executionId: 1, lines: make(0, 1000) }, attachTo: document.body })
    await nextTick()
    await nextTick()
    const [before, after = 0] = spacers()
    expect(before + after + rows().length * 20).toBeCloseTo(1000 * 20)
  })

  it('renders every line while wrapping (heights vary)', async () => {
    wrapper = mount(LogViewer, { props: { executionId: 1, lines: make(0, 1000) }, attachTo: document.body })
    expect(rows().length).toBeLessThan(1000)
    await wrapper.findAll('input[type=checkbox]')[1].setValue(true)
    expect(rows()).toHaveLength(1000)
    expect(spacers()).toEqual([])
  })
})
