/**
 * The log viewer's server-side queries (the live window holds only the tail of a big log, so both
 * go to the server and cover the WHOLE log):
 *
 * - useFilteredLog: while a stream or level filter is on, the view shows only the matching records,
 *   read with `GET /logs?stream=&level=` from the start and then from where the scan stopped
 *   whenever the live stream brings new output (at most `maxLines` kept; older ones are dropped and
 *   `truncatedBefore` says where the kept ones start, as in the live window).
 * - useLogSearch: `GET /logs/search?q=` with the same filters; "3 of 17" and next/previous over
 *   the matches (by byte offset, which the viewer jumps to).
 */
import { computed, getCurrentScope, onScopeDispose, ref, shallowRef, toValue, watch, type MaybeRefOrGetter } from 'vue'
import { errorMessage } from '@/api/http'
import { getLogPage, searchLog, type LogFilters, type LogRecord } from '@/api/executions'
import type { LogLine } from '@/composables/useExecutionLog'

const PAGE = 1000
/** stop one read after this many pages (the rest comes with the next refresh) */
const MAX_PAGES = 50

export function filtersActive(filters: LogFilters): boolean {
  return !!(filters.stream || filters.level)
}

export function toLine(record: LogRecord): LogLine | null {
  const stream = record.stream
  if (stream !== 'out' && stream !== 'err' && stream !== 'sys') return null
  return { offset: record.offset, time: record.time, stream, text: record.text }
}

export function useFilteredLog(
  executionId: MaybeRefOrGetter<number>,
  filters: MaybeRefOrGetter<LogFilters>,
  options: { maxLines?: number } = {},
) {
  const maxLines = options.maxLines ?? 5000
  const lines = shallowRef<LogLine[]>([])
  const truncatedBefore = ref<number | null>(null)
  const loading = ref(false)
  const error = ref('')
  const active = computed(() => filtersActive(toValue(filters)))

  let next = 0
  let generation = 0
  let running: Promise<void> | null = null
  let again = false

  async function read(gen: number): Promise<void> {
    const id = toValue(executionId)
    const query = { ...toValue(filters) }
    loading.value = true
    try {
      for (let pages = 0; pages < MAX_PAGES; pages += 1) {
        const page = await getLogPage(id, next, PAGE, undefined, query)
        if (gen !== generation) return
        const last = lines.value.length ? lines.value[lines.value.length - 1].offset : -1
        const fresh = page.records.map(toLine).filter((l): l is LogLine => !!l && l.offset > last)
        if (fresh.length) {
          let all = lines.value.concat(fresh)
          if (all.length > maxLines) {
            all = all.slice(all.length - maxLines)
            truncatedBefore.value = all[0].offset
          }
          lines.value = all
        }
        const advanced = page.next_offset > next
        next = Math.max(next, page.next_offset)
        if (!advanced || next >= page.size) break
      }
      error.value = ''
    } catch (e) {
      if (gen === generation) error.value = errorMessage(e)
    } finally {
      if (gen === generation) loading.value = false
    }
  }

  /** Reads what is new since the last read (one read at a time; a call meanwhile reads again after). */
  function refresh(): Promise<void> {
    if (!active.value) return Promise.resolve()
    if (running) {
      again = true
      return running
    }
    const gen = generation
    running = read(gen).finally(() => {
      running = null
      if (again && gen === generation) {
        again = false
        void refresh()
      }
    })
    return running
  }

  function reset(): void {
    generation += 1
    running = null
    again = false
    next = 0
    lines.value = []
    truncatedBefore.value = null
    error.value = ''
    loading.value = false
    void refresh()
  }

  watch(
    () => [toValue(executionId), toValue(filters).stream, toValue(filters).level],
    reset,
    { immediate: true },
  )
  if (getCurrentScope()) onScopeDispose(() => (generation += 1))

  return { lines, truncatedBefore, loading, error, active, refresh }
}

export function useLogSearch(
  executionId: MaybeRefOrGetter<number>,
  query: MaybeRefOrGetter<string>,
  filters: MaybeRefOrGetter<LogFilters>,
  options: { limit?: number } = {},
) {
  const limit = options.limit ?? 5000
  const matches = shallowRef<LogRecord[]>([])
  const total = ref(0)
  const truncated = ref(false)
  const index = ref(-1)
  const loading = ref(false)
  const error = ref('')
  const current = computed(() => (index.value >= 0 ? (matches.value[index.value] ?? null) : null))
  /** "3 of 17", "0 of 5000+" */
  const label = computed(() => {
    if (!toValue(query).trim() || loading.value && !matches.value.length) return ''
    if (!total.value) return 'No matches'
    const of = truncated.value ? `${matches.value.length.toLocaleString()}+` : total.value.toLocaleString()
    return `${index.value + 1} of ${of}`
  })

  let generation = 0

  /** Searches again; keeps the current match (by offset) when it is still found. */
  async function run(keep = false): Promise<void> {
    const gen = ++generation
    const q = toValue(query).trim()
    const keepOffset = keep ? current.value?.offset : undefined
    if (!q) {
      matches.value = []
      total.value = 0
      truncated.value = false
      index.value = -1
      loading.value = false
      error.value = ''
      return
    }
    loading.value = true
    try {
      const found = await searchLog(toValue(executionId), q, { ...toValue(filters) }, limit)
      if (gen !== generation) return
      matches.value = found.matches
      total.value = found.total
      truncated.value = found.truncated
      error.value = ''
      const kept = keepOffset === undefined ? -1 : found.matches.findIndex((m) => m.offset === keepOffset)
      index.value = kept >= 0 ? kept : found.matches.length ? 0 : -1
    } catch (e) {
      if (gen === generation) error.value = errorMessage(e)
    } finally {
      if (gen === generation) loading.value = false
    }
  }

  function step(delta: number): void {
    const count = matches.value.length
    if (!count) return
    index.value = (((index.value + delta) % count) + count) % count
  }

  if (getCurrentScope()) onScopeDispose(() => (generation += 1))

  return {
    matches,
    total,
    truncated,
    index,
    current,
    label,
    loading,
    error,
    run,
    next: () => step(1),
    previous: () => step(-1),
  }
}

/**
 * Scrolls a log container sideways so the current match's marked text is in view (long lines do
 * not wrap by default; on a phone the hit may be far to the right). The container must be the
 * offset parent of the lines (position: relative).
 */
export function revealHit(container: HTMLElement): void {
  const hit = container.querySelector<HTMLElement>('.log-current .log-hit')
  if (!hit) return
  const left = hit.offsetLeft
  const visible = left >= container.scrollLeft && left + hit.offsetWidth <= container.scrollLeft + container.clientWidth
  if (!visible) container.scrollLeft = Math.max(0, left - container.clientWidth / 3)
}
