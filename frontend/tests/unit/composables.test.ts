import { afterEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { defineComponent, effectScope, h, nextTick, ref } from 'vue'
import { ProblemError, type Page } from '@/api/http'
import ListPager from '@/components/ListPager.vue'
import { useLoader } from '@/composables/useLoader'
import { useMediaQuery } from '@/composables/useMediaQuery'
import { usePagedList, type Paging } from '@/composables/usePagedList'
import { watchDebounced } from '@/composables/watchDebounced'

afterEach(() => {
  vi.unstubAllGlobals()
  vi.useRealTimers()
})

/** A promise the test settles by hand. */
function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((yes, no) => {
    resolve = yes
    reject = no
  })
  return { promise, resolve, reject }
}

describe('useLoader', () => {
  it('applies the answer, clears the error and tracks loading and loaded', async () => {
    const { loading, loaded, error, run } = useLoader()
    error.value = 'old'
    const answer = deferred<number>()
    let applied = 0
    const done = run(() => answer.promise, (n) => (applied = n))
    expect(loading.value).toBe(true)
    expect(loaded.value).toBe(false)
    answer.resolve(7)
    expect(await done).toBe(true)
    expect([applied, loading.value, loaded.value, error.value]).toEqual([7, false, true, ''])
  })

  it('turns a failure into one sentence and keeps what was shown', async () => {
    const { error, run } = useLoader()
    let applied = 'kept'
    const fail = () => Promise.reject(new ProblemError({ title: 'Forbidden', status: 403, detail: 'Admins only.' }))
    expect(await run(fail, () => (applied = 'replaced'))).toBe(false)
    expect(error.value).toBe('Admins only.')
    expect(applied).toBe('kept')
  })

  it('drops a slow answer that a newer run overtook', async () => {
    const { loading, run } = useLoader()
    const slow = deferred<string>()
    const fast = deferred<string>()
    const shown: string[] = []
    const first = run(() => slow.promise, (v) => shown.push(v))
    const second = run(() => fast.promise, (v) => shown.push(v))
    fast.resolve('fresh')
    await second
    slow.resolve('stale')
    expect(await first).toBe(false)
    expect(shown).toEqual(['fresh'])
    expect(loading.value).toBe(false)
  })

  it('shows no spinner for a quiet run', () => {
    const { loading, run } = useLoader()
    void run(() => new Promise(() => {}), () => {}, { quiet: true })
    expect(loading.value).toBe(false)
  })
})

describe('usePagedList', () => {
  function setup(total = 120) {
    const calls: Paging[] = []
    const fetchPage = vi.fn(async (paging: Paging): Promise<Page<number>> => {
      calls.push(paging)
      return { items: [paging.page], total }
    })
    const scope = effectScope()
    const list = scope.run(() => usePagedList(fetchPage, 20))!
    return { calls, list, scope }
  }

  it('loads the page asked for, and page 1 again when the page size or a filter changes', async () => {
    const { calls, list, scope } = setup()
    await list.load()
    expect(list.items.value).toEqual([1])
    expect(list.total.value).toBe(120)
    list.page.value = 3
    await flushPromises()
    expect(calls.at(-1)).toEqual({ page: 3, per_page: 20 })
    list.perPage.value = 50
    await flushPromises()
    expect(list.page.value).toBe(1)
    expect(calls.at(-1)).toEqual({ page: 1, per_page: 50 })
    const before = calls.length
    list.firstPage() // already on page 1: one reload
    await flushPromises()
    expect(calls.length).toBe(before + 1)
    scope.stop()
  })
})

describe('useMediaQuery', () => {
  it('follows the query and stops listening with its scope', () => {
    const listeners = new Set<(event: { matches: boolean }) => void>()
    vi.stubGlobal('matchMedia', (query: string) => ({
      matches: query === '(max-width: 760px)',
      addEventListener: (_type: string, listener: (event: { matches: boolean }) => void) => listeners.add(listener),
      removeEventListener: (_type: string, listener: (event: { matches: boolean }) => void) => listeners.delete(listener),
    }))
    const scope = effectScope()
    const narrow = scope.run(() => useMediaQuery('(max-width: 760px)'))!
    expect(narrow.value).toBe(true)
    for (const listener of listeners) listener({ matches: false })
    expect(narrow.value).toBe(false)
    scope.stop()
    expect(listeners.size).toBe(0)
  })
})

describe('ListPager', () => {
  const Host = defineComponent({
    props: { total: { type: Number, required: true } },
    setup(props) {
      const page = ref(1)
      const perPage = ref(50)
      return () =>
        h(ListPager, {
          total: props.total,
          sizes: [20, 50, 100],
          page: page.value,
          perPage: perPage.value,
          'onUpdate:page': (p: number) => (page.value = p),
          'onUpdate:perPage': (s: number) => (perPage.value = s),
        })
    },
  })

  it('is hidden while everything fits on the smallest page', async () => {
    const wrapper = mount(Host, { props: { total: 20 } })
    expect(wrapper.find('.el-pagination').exists()).toBe(false)
    await wrapper.setProps({ total: 21 })
    await nextTick()
    expect(wrapper.find('.el-pagination').exists()).toBe(true)
    expect(wrapper.text()).toContain('21')
    wrapper.unmount()
  })
})

describe('watchDebounced', () => {
  it('calls back once typing pauses, and not after its scope ends', async () => {
    vi.useFakeTimers()
    const text = ref('')
    const seen: string[] = []
    const scope = effectScope()
    scope.run(() => watchDebounced(text, (value) => seen.push(value), 300))
    for (const value of ['r', 're', 'rep']) {
      text.value = value
      await nextTick()
      vi.advanceTimersByTime(100)
    }
    vi.advanceTimersByTime(300)
    expect(seen).toEqual(['rep'])
    text.value = 'report'
    await nextTick()
    scope.stop()
    vi.advanceTimersByTime(1000)
    expect(seen).toEqual(['rep'])
  })
})
