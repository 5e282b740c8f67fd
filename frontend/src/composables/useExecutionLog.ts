/**
 * A run's live log over Server-Sent Events, shaped like VueUse's `useEventSource`: reactive
 * `lines`, `status`, `progress`, `state`, `error`, and `open()`/`close()`.
 *
 * - ONE EventSource per call (browsers allow ~6 connections per origin); closed on `end`, when the
 *   id changes and when the calling scope (component) is disposed.
 * - Exactly once, in order: every `log` record carries its start byte offset and the SSE id is the
 *   offset after it. The stream is opened with `batch=true`: records that were waiting together
 *   arrive as one `logs` event (a JSON array, its id the offset after the last), so a firehose costs
 *   one event per server read instead of one per line; single `log` events still come too. The browser resends `Last-Event-ID` on its own reconnects; when it gives up
 *   (readyState CLOSED without `end`) we check the run still exists and reopen with
 *   `?offset=<byte after the last event>` after a backoff. Any record whose offset is not past the
 *   last one kept is dropped, so a replay never duplicates a line.
 * - Bounded memory/DOM: at most `maxLines` lines are kept; older ones are dropped and
 *   `truncatedBefore` says where the kept lines start. The stream starts at byte 0: the server
 *   accepts only record boundaries it handed out (a byte `tailBytes` before the end is refused with
 *   400), and a log is capped by the server (10 MiB by default), so replaying it costs a few
 *   batches, not an unbounded download. Dropped output is not re-fetched into this window — the
 *   server pages only *forward* from a record boundary — so the viewer offers "browse from the
 *   start" in pages of 1000 (`GET /logs?offset=&limit=`, see LogPager.vue), a server-side search
 *   that jumps to any line, and a full plain-text download.
 */
import { getCurrentScope, onScopeDispose, ref, shallowRef, toValue, watch, type MaybeRefOrGetter } from 'vue'
import { errorMessage, openEventSource, ProblemError } from '@/api/http'
import { getLogPage, streamPath, type Execution } from '@/api/executions'

export interface LogLine {
  /** byte offset where the record starts in the log file (unique, increasing) */
  offset: number
  time: string
  stream: 'out' | 'err' | 'sys'
  text: string
}

export interface Progress {
  /** 0–100, or null when the script only sent a message */
  percent: number | null
  message: string
}

export type LogState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'ended' | 'error'

export interface ExecutionLogOptions {
  /** most lines kept (and rendered); default 5000 */
  maxLines?: number
  /** waits before reopening a stream the browser gave up on; the last one repeats */
  retryDelaysMs?: number[]
  /** lines are handed to the view in batches at most this often; 0 = at once */
  flushMs?: number
  /** the batch interval once many lines are shown (each batch re-lays out the whole list) */
  busyFlushMs?: number
}

// Rendering is what costs (style, layout, text shaping of each new line): with many lines shown,
// or a firehose of output, batches get rarer so the page stays responsive.
const BUSY_LINES = 1000
const FIREHOSE_BATCH = 1000
const FIREHOSE_FLUSH_MS = 1000

const CLOSED = 2 // EventSource.CLOSED

function toProgress(data: unknown): Progress | null {
  if (!data || typeof data !== 'object') return null
  const raw = data as { percent?: unknown; message?: unknown; text?: unknown }
  const percent = typeof raw.percent === 'number' && Number.isFinite(raw.percent) ? raw.percent : null
  const message = typeof raw.message === 'string' ? raw.message : typeof raw.text === 'string' ? raw.text : ''
  return { percent: percent === null ? null : Math.max(0, Math.min(100, percent)), message }
}

function parse(data: string): unknown {
  try {
    return JSON.parse(data)
  } catch {
    return null
  }
}

export function useExecutionLog(id: MaybeRefOrGetter<number | string | null | undefined>, options: ExecutionLogOptions = {}) {
  const maxLines = options.maxLines ?? 5000
  const retryDelays = options.retryDelaysMs ?? [1000, 2000, 5000, 10000, 30000]
  const flushMs = options.flushMs ?? 50
  const busyFlushMs = Math.max(flushMs, options.busyFlushMs ?? 250)

  const lines = shallowRef<LogLine[]>([])
  const status = ref<Execution | null>(null)
  const progress = ref<Progress | null>(null)
  const state = ref<LogState>('idle')
  const error = ref<string | null>(null)
  /** offset of the first kept line when earlier output exists that is not in `lines` */
  const truncatedBefore = ref<number | null>(null)
  /** the byte offset just after the last event received: where a reopened stream resumes */
  const lastOffset = ref(0)

  let source: EventSource | null = null
  let generation = 0 // bumped on every close: callbacks of an older stream do nothing
  let lastSeen = -1 // offset of the last record kept (or deliberately skipped)
  let truncated = false
  let pending: LogLine[] = []
  let flushTimer: ReturnType<typeof setTimeout> | null = null
  let retryTimer: ReturnType<typeof setTimeout> | null = null
  let attempts = 0
  let lastBatch = 0

  function flush(): void {
    if (flushTimer !== null) clearTimeout(flushTimer)
    flushTimer = null
    lastBatch = pending.length
    if (!pending.length) return
    let next = lines.value.concat(pending)
    pending = []
    if (next.length > maxLines) {
      next = next.slice(next.length - maxLines)
      truncated = true
    }
    if (truncated) truncatedBefore.value = next[0].offset
    lines.value = next
  }

  function scheduleFlush(): void {
    if (flushMs <= 0) flush()
    else if (flushTimer === null) {
      const wait = lastBatch >= FIREHOSE_BATCH ? Math.max(busyFlushMs, FIREHOSE_FLUSH_MS) : lines.value.length >= BUSY_LINES ? busyFlushMs : flushMs
      flushTimer = setTimeout(flush, wait)
    }
  }

  function track(event: MessageEvent): void {
    if (event.lastEventId && /^\d+$/.test(event.lastEventId)) {
      lastOffset.value = Math.max(lastOffset.value, Number(event.lastEventId))
    }
  }

  /** Queues one record unless it was already kept; true when it was queued. */
  function keep(data: unknown): boolean {
    const record = data as (Partial<LogLine> & { stream?: string }) | null
    if (!record || typeof record !== 'object' || typeof record.offset !== 'number' || record.offset <= lastSeen) return false
    lastSeen = record.offset
    if (record.stream !== 'out' && record.stream !== 'err' && record.stream !== 'sys') return false
    pending.push({ offset: record.offset, time: String(record.time ?? ''), stream: record.stream, text: String(record.text ?? '') })
    return true
  }

  function onLog(event: MessageEvent): void {
    track(event)
    if (keep(parse(event.data))) scheduleFlush()
  }

  /** A `logs` batch: the records that were waiting on the server, in order. */
  function onLogs(event: MessageEvent): void {
    track(event)
    const records = parse(event.data)
    if (!Array.isArray(records)) return
    let kept = false
    for (const record of records) kept = keep(record) || kept
    if (kept) scheduleFlush()
  }

  function onStatus(execution: Execution): void {
    status.value = execution
    if (progress.value === null && execution.progress !== null && execution.progress !== undefined) {
      progress.value = { percent: execution.progress, message: execution.progress_message || '' }
    }
  }

  function finish(event: MessageEvent): void {
    track(event)
    flush()
    const data = parse(event.data) as (Omit<Partial<Execution>, 'status'> & { offset?: number; status?: string }) | null
    if (data && typeof data.id === 'number') {
      const { offset: _offset, ...execution } = data
      onStatus(execution as Execution)
    } else if (data?.status === 'deleted') {
      error.value = 'This execution was deleted.'
    }
    if (truncated && truncatedBefore.value === null) truncatedBefore.value = lastOffset.value
    stop()
    state.value = 'ended'
  }

  function fail(message: string): void {
    stop()
    error.value = message
    state.value = 'error'
  }

  function connect(executionId: number, gen: number, offset: number): void {
    const es = openEventSource(streamPath(executionId), offset > 0 ? { batch: true, offset } : { batch: true })
    source = es
    const live = () => gen === generation
    es.onopen = () => {
      if (!live()) return
      state.value = 'open'
      error.value = null
      attempts = 0
    }
    es.addEventListener('log', (e) => live() && onLog(e as MessageEvent))
    es.addEventListener('logs', (e) => live() && onLogs(e as MessageEvent))
    es.addEventListener('progress', (e) => {
      if (!live()) return
      track(e as MessageEvent)
      progress.value = toProgress(parse((e as MessageEvent).data)) ?? progress.value
    })
    es.addEventListener('status', (e) => {
      if (!live()) return
      const data = parse((e as MessageEvent).data) as Execution | null
      if (data && typeof data.id === 'number') onStatus(data)
    })
    es.addEventListener('end', (e) => live() && finish(e as MessageEvent))
    es.onerror = () => {
      if (!live()) return
      if (es.readyState === CLOSED) {
        es.close()
        source = null
        retry(executionId, gen)
      } else {
        state.value = 'reconnecting' // the browser retries by itself, sending Last-Event-ID
      }
    }
  }

  function retry(executionId: number, gen: number): void {
    flush()
    state.value = 'reconnecting'
    const delay = retryDelays[Math.min(attempts, retryDelays.length - 1)]
    attempts += 1
    retryTimer = setTimeout(async () => {
      retryTimer = null
      try {
        await getLogPage(executionId, 0, 1) // still there, still logged in? (a 401 goes to login)
      } catch (e) {
        if (gen !== generation) return
        if (e instanceof ProblemError && [401, 403, 404].includes(e.status)) {
          fail(e.status === 404 ? 'This execution no longer exists.' : errorMessage(e))
        } else {
          retry(executionId, gen)
        }
        return
      }
      if (gen === generation) connect(executionId, gen, lastOffset.value)
    }, delay)
  }

  async function start(executionId: number): Promise<void> {
    const gen = generation
    state.value = 'connecting'
    try {
      await getLogPage(executionId, 0, 1) // there, and readable? (a clear error instead of a failing stream)
    } catch (e) {
      if (gen === generation) fail(errorMessage(e))
      return
    }
    if (gen !== generation) return
    connect(executionId, gen, 0)
  }

  /** Stops the stream and timers (keeps what was received). */
  function stop(): void {
    generation += 1
    source?.close()
    source = null
    if (retryTimer !== null) clearTimeout(retryTimer)
    retryTimer = null
    flush()
  }

  function reset(): void {
    pending = []
    lines.value = []
    status.value = null
    progress.value = null
    error.value = null
    truncatedBefore.value = null
    lastOffset.value = 0
    lastSeen = -1
    truncated = false
    attempts = 0
    lastBatch = 0
  }

  /** (Re)opens the stream from scratch for the current id. */
  function open(): void {
    stop()
    reset()
    const value = Number(toValue(id))
    if (!Number.isInteger(value) || value < 1) {
      state.value = 'idle'
      return
    }
    void start(value)
  }

  function close(): void {
    stop()
    if (state.value !== 'ended' && state.value !== 'error') state.value = 'idle'
  }

  watch(() => toValue(id), open, { immediate: true })
  if (getCurrentScope()) onScopeDispose(close)

  return { lines, status, progress, state, error, truncatedBefore, lastOffset, open, close, flush }
}
