import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope, nextTick, ref } from 'vue'
import { useExecutionLog } from '@/composables/useExecutionLog'

type Listener = (event: { data: string; lastEventId: string }) => void

class FakeEventSource {
  static instances: FakeEventSource[] = []
  static readonly CONNECTING = 0
  static readonly OPEN = 1
  static readonly CLOSED = 2
  readonly url: string
  readyState = 0
  closed = false
  onopen: (() => void) | null = null
  onerror: (() => void) | null = null
  private listeners: Record<string, Listener[]> = {}

  constructor(url: string) {
    this.url = url
    FakeEventSource.instances.push(this)
  }
  addEventListener(type: string, fn: Listener): void {
    ;(this.listeners[type] ||= []).push(fn)
  }
  close(): void {
    this.readyState = 2
    this.closed = true
  }
  // test helpers
  connect(): void {
    this.readyState = 1
    this.onopen?.()
  }
  emit(type: string, data: unknown, id?: number): void {
    for (const fn of this.listeners[type] || []) fn({ data: JSON.stringify(data), lastEventId: id === undefined ? '' : String(id) })
  }
  /** a log record of `len` bytes starting at `offset` */
  line(offset: number, text: string, stream = 'out', len = 10): number {
    this.emit('log', { offset, time: '2026-01-01T00:00:00.000Z', stream, text }, offset + len)
    return offset + len
  }
  /** one `logs` batch of records of `len` bytes each from `offset`; returns the offset after it */
  batch(offset: number, texts: string[], stream = 'out', len = 10): number {
    const records = texts.map((text, i) => ({ offset: offset + i * len, time: '2026-01-01T00:00:00.000Z', stream, text }))
    const end = offset + texts.length * len
    this.emit('logs', records, end)
    return end
  }
  giveUp(): void {
    this.readyState = 2
    this.onerror?.()
  }
}

let logSize = 0
let probeStatus = 200
const fetchMock = vi.fn(async (url: string) => {
  if (probeStatus !== 200) {
    return new Response(JSON.stringify({ title: 'Not Found', status: probeStatus, detail: 'No such execution.' }), {
      status: probeStatus,
      headers: { 'Content-Type': 'application/problem+json' },
    })
  }
  void url
  return new Response(JSON.stringify({ records: [], offset: 0, next_offset: 0, size: logSize, complete: false }), {
    status: 200,
    headers: { 'Content-Type': 'application/json' },
  })
})

const settle = async () => {
  for (let i = 0; i < 5; i += 1) await Promise.resolve()
  await nextTick()
}
const last = () => FakeEventSource.instances[FakeEventSource.instances.length - 1]

function mount(id: number | (() => number), options = {}) {
  const scope = effectScope()
  const log = scope.run(() => useExecutionLog(id, { flushMs: 0, ...options }))!
  return { scope, log }
}

beforeEach(() => {
  FakeEventSource.instances = []
  logSize = 0
  probeStatus = 200
  fetchMock.mockClear()
  vi.stubGlobal('EventSource', FakeEventSource)
  vi.stubGlobal('fetch', fetchMock)
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('useExecutionLog', () => {
  it('opens one stream and appends records in order', async () => {
    const { log, scope } = mount(7)
    await settle()
    expect(FakeEventSource.instances).toHaveLength(1)
    const es = last()
    expect(es.url).toBe('/api/executions/7/logs/stream?batch=true')
    es.connect()
    expect(log.state.value).toBe('open')
    let at = es.line(0, 'one')
    at = es.line(at, 'two', 'err')
    es.line(at, 'three', 'sys')
    expect(log.lines.value.map((l) => l.text)).toEqual(['one', 'two', 'three'])
    expect(log.lines.value.map((l) => l.stream)).toEqual(['out', 'err', 'sys'])
    expect(log.lastOffset.value).toBe(30)
    expect(log.truncatedBefore.value).toBeNull()
    scope.stop()
  })

  it('takes a batch of records as one event, in order, mixed with single ones', async () => {
    const { log, scope } = mount(5)
    await settle()
    const es = last()
    es.connect()
    let at = es.line(0, 'first')
    at = es.batch(at, ['b1', 'b2', 'b3'])
    at = es.line(at, 'single', 'err')
    at = es.batch(at, ['c1', 'c2'], 'sys')
    expect(log.lines.value.map((l) => l.text)).toEqual(['first', 'b1', 'b2', 'b3', 'single', 'c1', 'c2'])
    expect(log.lines.value.map((l) => l.offset)).toEqual([0, 10, 20, 30, 40, 50, 60])
    expect(log.lastOffset.value).toBe(at) // the batch id: where a reopened stream resumes
    scope.stop()
  })

  it('drops the already-seen part of a replayed batch and ignores a malformed one', async () => {
    const { log, scope } = mount(6)
    await settle()
    const es = last()
    const at = es.batch(0, ['a', 'b'])
    es.batch(0, ['a', 'b', 'c']) // a reconnect replays from an earlier offset
    es.emit('logs', { not: 'an array' }, 99)
    es.emit('logs', [null, { offset: 'x' }, { offset: 40, stream: 'prg', text: '{}' }], 50)
    es.batch(50, ['d'])
    expect(log.lines.value.map((l) => l.text)).toEqual(['a', 'b', 'c', 'd'])
    expect(at).toBe(20)
    scope.stop()
  })

  it('drops records it has already seen (a replay after reconnect)', async () => {
    const { log, scope } = mount(1)
    await settle()
    const es = last()
    es.line(0, 'a')
    es.line(10, 'b')
    es.line(0, 'a') // replayed
    es.line(10, 'b')
    es.line(5, 'bogus')
    es.line(20, 'c')
    expect(log.lines.value.map((l) => l.text)).toEqual(['a', 'b', 'c'])
    scope.stop()
  })

  it('keeps at most maxLines and remembers where the kept lines start', async () => {
    const { log, scope } = mount(1, { maxLines: 3 })
    await settle()
    const es = last()
    let at = 0
    for (const text of ['1', '2', '3', '4', '5']) at = es.line(at, text)
    expect(log.lines.value.map((l) => l.text)).toEqual(['3', '4', '5'])
    expect(log.truncatedBefore.value).toBe(20)
    scope.stop()
  })

  it('batches lines when flushMs is set', async () => {
    vi.useFakeTimers()
    const { log, scope } = mount(1, { flushMs: 50 })
    await settle()
    const es = last()
    es.line(0, 'x')
    es.line(10, 'y')
    expect(log.lines.value).toHaveLength(0)
    vi.advanceTimersByTime(60)
    expect(log.lines.value.map((l) => l.text)).toEqual(['x', 'y'])
    scope.stop()
  })

  it('tracks status and progress, and closes on end', async () => {
    const { log, scope } = mount(3)
    await settle()
    const es = last()
    es.emit('status', { id: 3, status: 'running', progress: 10, progress_message: 'start' })
    expect(log.status.value?.status).toBe('running')
    expect(log.progress.value).toEqual({ percent: 10, message: 'start' })
    es.emit('progress', { percent: 42.5, message: 'half-ish' }, 55)
    expect(log.progress.value).toEqual({ percent: 42.5, message: 'half-ish' })
    es.emit('progress', { text: 'not json' }, 70)
    expect(log.progress.value).toEqual({ percent: null, message: 'not json' })
    es.line(70, 'done')
    es.emit('end', { id: 3, status: 'succeeded', offset: 80, progress: 100, progress_message: null })
    expect(es.closed).toBe(true)
    expect(log.state.value).toBe('ended')
    expect(log.status.value?.status).toBe('succeeded')
    expect(log.status.value).not.toHaveProperty('offset')
    expect(log.lines.value.map((l) => l.text)).toEqual(['done'])
    // events after end are ignored
    es.line(80, 'late')
    expect(log.lines.value).toHaveLength(1)
    expect(FakeEventSource.instances).toHaveLength(1)
    scope.stop()
  })

  it('reopens from the last offset when the browser gives up, without repeating lines', async () => {
    vi.useFakeTimers()
    const { log, scope } = mount(9, { retryDelaysMs: [100] })
    await vi.advanceTimersByTimeAsync(0)
    const first = last()
    first.connect()
    first.line(0, 'a')
    first.emit('progress', { percent: 5, message: '' }, 25) // a progress record moves the resume point too
    first.giveUp()
    expect(first.closed).toBe(true)
    expect(log.state.value).toBe('reconnecting')
    expect(FakeEventSource.instances).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(150)
    expect(FakeEventSource.instances).toHaveLength(2)
    const second = last()
    expect(second.url).toBe('/api/executions/9/logs/stream?batch=true&offset=25')
    second.connect()
    second.line(0, 'a') // a server that replays anyway is still harmless
    second.line(25, 'b')
    expect(log.lines.value.map((l) => l.text)).toEqual(['a', 'b'])
    expect(log.state.value).toBe('open')
    scope.stop()
  })

  it('leaves reconnecting to the browser while it is still trying', async () => {
    const { log, scope } = mount(9)
    await settle()
    const es = last()
    es.connect()
    es.readyState = 0
    es.onerror?.()
    expect(log.state.value).toBe('reconnecting')
    expect(es.closed).toBe(false)
    expect(FakeEventSource.instances).toHaveLength(1)
    scope.stop()
  })

  it('stops retrying when the execution is gone', async () => {
    vi.useFakeTimers()
    const { log, scope } = mount(9, { retryDelaysMs: [100] })
    await vi.advanceTimersByTimeAsync(0)
    last().giveUp()
    probeStatus = 404
    await vi.advanceTimersByTimeAsync(150)
    expect(log.state.value).toBe('error')
    expect(log.error.value).toMatch(/no longer exists/)
    await vi.advanceTimersByTimeAsync(5000)
    expect(FakeEventSource.instances).toHaveLength(1)
    scope.stop()
  })

  it('streams a big log from its start (the server accepts only record boundaries) and keeps the latest lines', async () => {
    logSize = 10_000
    const { log, scope } = mount(4, { maxLines: 2 })
    await settle()
    const es = last()
    expect(es.url).toBe('/api/executions/4/logs/stream?batch=true')
    es.line(0, 'one')
    es.line(10, 'two')
    es.line(20, 'three')
    expect(log.lines.value.map((l) => l.text)).toEqual(['two', 'three'])
    expect(log.truncatedBefore.value).toBe(10)
    scope.stop()
  })

  it('closes on unmount and reopens when the id changes', async () => {
    const id = ref(1)
    const { log, scope } = mount(() => id.value)
    await settle()
    const first = last()
    first.line(0, 'from one')
    id.value = 2
    await settle()
    expect(first.closed).toBe(true)
    expect(FakeEventSource.instances).toHaveLength(2)
    expect(last().url).toBe('/api/executions/2/logs/stream?batch=true')
    expect(log.lines.value).toEqual([])
    first.line(10, 'stale') // the old stream is ignored
    expect(log.lines.value).toEqual([])
    scope.stop()
    expect(last().closed).toBe(true)
  })

  it('reports a failed start', async () => {
    probeStatus = 404
    const { log, scope } = mount(5)
    await settle()
    expect(log.state.value).toBe('error')
    expect(log.error.value).toBe('No such execution.')
    expect(FakeEventSource.instances).toHaveLength(0)
    scope.stop()
  })
})
