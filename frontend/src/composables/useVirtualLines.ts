/**
 * Windowed rendering of a list of equal-height rows inside a scroll container: only the rows in
 * and near the viewport (plus `overscan` on each side) are rendered; spacers of `before`/`after`
 * pixels stand in for the rest so the scroll height is that of the whole list.
 *
 * - Short lists (`count <= minCount`) and a disabled window render everything (start 0, end count).
 * - Before the scroller is known the window is the top (or, pinned, the end) of the list.
 * - The row height is measured at runtime from a rendered row (`measure`), `defaultRowHeight` until
 *   then (and in test DOMs without layout). Rows must really be all one height (the caller fixes it
 *   in CSS), or the spacers drift.
 * - `pinToEnd`: while following the tail, the window is the last rows whatever the scroll position
 *   says, so a new batch renders at the bottom in one pass before the scroll to the bottom.
 * - `sync()` re-reads scroll position and viewport height (scroll events and a ResizeObserver call
 *   it; call it after setting scrollTop by hand so the window follows before the next paint).
 */
import { computed, onBeforeUnmount, ref, watch, type Ref } from 'vue'

export interface VirtualRange {
  /** first rendered index */
  start: number
  /** one past the last rendered index */
  end: number
  /** spacer heights in px above and below the rendered rows */
  before: number
  after: number
}

export interface VirtualLinesOptions {
  scroller: () => HTMLElement | null | undefined
  count: () => number
  enabled?: () => boolean
  pinToEnd?: () => boolean
  overscan?: number
  minCount?: number
  defaultRowHeight?: number
}

/** viewport assumed before it can be measured (and in DOMs without layout) */
const FALLBACK_VIEWPORT_PX = 640

export function useVirtualLines(options: VirtualLinesOptions) {
  const overscan = options.overscan ?? 50
  const minCount = options.minCount ?? 200
  const scrollTop = ref(0)
  const viewport = ref(0)
  const rowHeight = ref(options.defaultRowHeight ?? 18.75)

  const active = computed(() => (options.enabled?.() ?? true) && options.count() > minCount)

  const range: Readonly<Ref<VirtualRange>> = computed(() => {
    const count = options.count()
    if (!active.value) return { start: 0, end: count, before: 0, after: 0 }
    const height = rowHeight.value
    const visible = Math.ceil((viewport.value > 0 ? viewport.value : FALLBACK_VIEWPORT_PX) / height) + 1
    const first = options.pinToEnd?.()
      ? count - visible
      : Math.min(count - 1, Math.floor(Math.max(0, scrollTop.value) / height))
    const start = Math.max(0, first - overscan)
    const end = Math.min(count, Math.max(0, first) + visible + overscan)
    return { start, end, before: start * height, after: (count - end) * height }
  })

  function sync(): void {
    const el = options.scroller()
    if (!el) return
    scrollTop.value = el.scrollTop
    viewport.value = el.clientHeight
  }

  /** Takes the row height from a rendered row (no-op while the window is off or without layout). */
  function measure(row: Element | null | undefined): void {
    if (!active.value || !row) return
    const height = row.getBoundingClientRect().height
    if (height > 0 && Math.abs(height - rowHeight.value) > 0.01) rowHeight.value = height
  }

  let observed: HTMLElement | null = null
  const resizeObserver = typeof ResizeObserver === 'undefined' ? null : new ResizeObserver(() => sync())
  const onScroll = () => {
    scrollTop.value = observed ? observed.scrollTop : 0
  }

  function attach(el: HTMLElement | null | undefined): void {
    if (observed === el) return
    if (observed) {
      observed.removeEventListener('scroll', onScroll)
      resizeObserver?.unobserve(observed)
    }
    observed = el ?? null
    if (observed) {
      observed.addEventListener('scroll', onScroll, { passive: true })
      resizeObserver?.observe(observed)
      sync()
    }
  }

  watch(() => options.scroller(), attach, { immediate: true, flush: 'post' })
  onBeforeUnmount(() => {
    attach(null)
    resizeObserver?.disconnect()
  })

  return { range, active, rowHeight, sync, measure }
}
