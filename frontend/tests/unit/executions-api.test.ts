import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  archiveUrl,
  cancelExecution,
  deleteExecution,
  fetchFileText,
  fileUrl,
  getLogPage,
  listExecutions,
  listFiles,
  logTextUrl,
  rerunExecution,
  streamPath,
} from '@/api/executions'
import { ProblemError } from '@/api/http'

type Call = { url: string; init: RequestInit }
let calls: Call[] = []
let reply: () => Response

const json = (body: unknown, status = 200, type = 'application/json') =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': type } })

beforeEach(() => {
  calls = []
  reply = () => json({})
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit) => {
      calls.push({ url, init })
      return reply()
    }),
  )
})
afterEach(() => vi.unstubAllGlobals())

describe('executions api', () => {
  it('lists with only the filters that are set', async () => {
    reply = () => json({ items: [], total: 0, page: 2, per_page: 20 })
    await listExecutions({ script_id: 3, status: 'failed', trigger: '', page: 2, per_page: 20 })
    expect(calls[0].url).toBe('/api/executions?script_id=3&status=failed&page=2&per_page=20')
    await listExecutions()
    expect(calls[1].url).toBe('/api/executions')
  })

  it('cancels, reruns (same or latest) and deletes', async () => {
    reply = () => json({ id: 5 }, 202)
    await cancelExecution(4)
    await rerunExecution(4)
    await rerunExecution(4, true)
    expect(calls.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      'POST /api/executions/4/cancel',
      'POST /api/executions/4/rerun',
      'POST /api/executions/4/rerun?latest=true',
    ])
    reply = () => new Response(null, { status: 204 })
    await expect(deleteExecution(4)).resolves.toBeNull()
    expect(calls[3].init.method).toBe('DELETE')
  })

  it('turns a 409 into a ProblemError with the server detail', async () => {
    reply = () => json({ title: 'Conflict', status: 409, detail: 'Execution 4 is still running.' }, 409, 'application/problem+json')
    await expect(deleteExecution(4)).rejects.toMatchObject({ status: 409, detail: 'Execution 4 is still running.' })
    await expect(deleteExecution(4)).rejects.toBeInstanceOf(ProblemError)
  })

  it('pages the log by byte offset', async () => {
    reply = () => json({ records: [], offset: 120, next_offset: 120, size: 120, complete: true })
    const page = await getLogPage(8, 120, 1000)
    expect(calls[0].url).toBe('/api/executions/8/logs?offset=120&limit=1000')
    expect(page.complete).toBe(true)
  })

  it('builds download, archive and stream URLs with each path segment encoded', () => {
    expect(fileUrl(2, 'out dir/r#1?.csv')).toBe('/api/executions/2/files/out%20dir/r%231%3F.csv')
    expect(fileUrl(2, 'a/../b.txt', true)).toBe('/api/executions/2/files/a/../b.txt?download=1')
    expect(fileUrl(2, 'ü.txt')).toBe('/api/executions/2/files/%C3%BC.txt')
    expect(archiveUrl(2)).toBe('/api/executions/2/archive')
    expect(logTextUrl(2)).toBe('/api/executions/2/logs?format=text')
    expect(streamPath(2)).toBe('/api/executions/2/logs/stream')
  })

  it('lists workspace files', async () => {
    reply = () => json({ items: [{ path: 'a.txt', size: 1, modified: '', is_dir: false, is_symlink: false }], total: 1 })
    expect(await listFiles(3)).toHaveLength(1)
    expect(calls[0].url).toBe('/api/executions/3/files')
  })

  it('fetches a preview, with a Range header for big files', async () => {
    reply = () => new Response('hello', { status: 200, headers: { 'Content-Type': 'text/plain' } })
    const small = await fetchFileText(1, { path: 'x/a b.txt', size: 5, modified: '', is_dir: false, is_symlink: false }, 100)
    expect(small).toEqual({ text: 'hello', truncated: false })
    expect(calls[0].url).toBe('/api/executions/1/files/x/a%20b.txt')
    expect((calls[0].init.headers as Record<string, string>).Range).toBeUndefined()

    reply = () => new Response('0123456789', { status: 206, headers: { 'Content-Type': 'text/plain' } })
    const big = await fetchFileText(1, { path: 'big.log', size: 50, modified: '', is_dir: false, is_symlink: false }, 10)
    expect(big).toEqual({ text: '0123456789', truncated: true })
    expect((calls[1].init.headers as Record<string, string>).Range).toBe('bytes=0-9')

    reply = () => json({ b: [1, 2] })
    const parsed = await fetchFileText(1, { path: 'r.json', size: 9, modified: '', is_dir: false, is_symlink: false }, 100)
    expect(parsed.text).toBe('{\n  "b": [\n    1,\n    2\n  ]\n}')

    await expect(
      fetchFileText(1, { path: 'huge.json', size: 50, modified: '', is_dir: false, is_symlink: false }, 10),
    ).rejects.toThrow(/larger than/)
    await expect(
      fetchFileText(1, { path: 'huge.log', size: 5000, modified: '', is_dir: false, is_symlink: false }, 10),
    ).rejects.toThrow(/too large/)
  })
})
