import { afterEach, describe, expect, it, vi } from 'vitest'
import { ProblemError, setCsrfToken } from '@/api/http'
import {
  createScript,
  deleteScript,
  diffVersions,
  executeScript,
  listScriptOptions,
  listScripts,
  listVersions,
  replaceScript,
  rollback,
  updateScript,
} from '@/api/scripts'
import { emptyForm, formToInput } from '@/components/script/scriptForm'

type Call = [string, RequestInit]

function stubFetch(status: number, body: unknown) {
  const mock = vi.fn(
    async () =>
      new Response(body === null ? null : JSON.stringify(body), {
        status,
        headers: body === null ? {} : { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json' },
      }),
  )
  vi.stubGlobal('fetch', mock)
  return mock
}
const call = (mock: ReturnType<typeof stubFetch>, i = 0) => mock.mock.calls[i] as unknown as Call
const headers = (init: RequestInit) => init.headers as Record<string, string>

afterEach(() => {
  vi.unstubAllGlobals()
  setCsrfToken(null)
})

describe('scripts api', () => {
  it('lists with only the filters that are set', async () => {
    const mock = stubFetch(200, { items: [], total: 0, page: 1, per_page: 200 })
    await listScripts({ q: 'rep ort', tag: '', folder: 'a/b', per_page: 200 })
    expect(call(mock)[0]).toBe('/api/scripts?q=rep+ort&folder=a%2Fb&per_page=200')
  })

  it('loads the first 100 scripts for a picker', async () => {
    const mock = stubFetch(200, { items: [{ id: 1, name: 'hello', parameters: [] }], total: 1, page: 1, per_page: 100 })
    expect(await listScriptOptions()).toEqual([{ id: 1, name: 'hello', parameters: [] }])
    expect(call(mock)[0]).toBe('/api/scripts?per_page=100')
  })

  it('creates with the plain body (no version guard fields)', async () => {
    const mock = stubFetch(201, { id: 1 })
    setCsrfToken('t')
    const { input } = formToInput({ ...emptyForm(), name: ' hello ' })
    await createScript(input)
    const [url, init] = call(mock)
    expect(url).toBe('/api/scripts')
    const body = JSON.parse(init.body as string)
    expect(body.name).toBe('hello')
    expect(body).not.toHaveProperty('version')
    expect(headers(init)['X-CSRF-Token']).toBe('t')
  })

  it('replaces with the version and revision it was based on', async () => {
    const mock = stubFetch(200, { id: 4 })
    const { input } = formToInput({ ...emptyForm(), name: 'x' })
    await replaceScript(4, input, { version: 3, revision: 9, message: 'fix' })
    const [url, init] = call(mock)
    expect(url).toBe('/api/scripts/4')
    expect(init.method).toBe('PUT')
    expect(JSON.parse(init.body as string)).toMatchObject({ name: 'x', version: 3, message: 'fix' })
    expect(headers(init)['If-Match']).toBe('"9"')
  })

  it('patches only the given fields, and an unguarded save sends no guard', async () => {
    const mock = stubFetch(200, { id: 4 })
    await updateScript(4, { enabled: false })
    const [, init] = call(mock)
    expect(init.method).toBe('PATCH')
    expect(JSON.parse(init.body as string)).toEqual({ enabled: false })
    expect(headers(init)['If-Match']).toBeUndefined()
  })

  it('turns a stale edit into a 409 ProblemError naming the version', async () => {
    stubFetch(409, { title: 'Conflict', status: 409, detail: 'The script moved on to version 5', field: 'version' })
    const { input } = formToInput({ ...emptyForm(), name: 'x' })
    const error = await replaceScript(1, input, { version: 4 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProblemError)
    expect((error as ProblemError).status).toBe(409)
    expect((error as ProblemError).field).toBe('version')
  })

  it('reaches versions, diff, rollback and delete at their paths', async () => {
    const mock = stubFetch(200, { items: [], total: 0 })
    await listVersions(2)
    await diffVersions(2, 1, 3)
    await rollback(2, 1)
    expect(call(mock, 0)[0]).toBe('/api/scripts/2/versions')
    expect(call(mock, 1)[0]).toBe('/api/scripts/2/diff?from=1&to=3')
    expect(call(mock, 2)[0]).toBe('/api/scripts/2/rollback/1')
    expect(call(mock, 2)[1].method).toBe('POST')
    const del = stubFetch(204, null)
    expect(await deleteScript(2)).toBeNull()
    expect(call(del)[1].method).toBe('DELETE')
  })

  it('executes with JSON when there are no files', async () => {
    const mock = stubFetch(202, { id: 11, status: 'queued' })
    const execution = await executeScript(3, { params: { n: 1 } })
    expect(execution.id).toBe(11)
    const [url, init] = call(mock)
    expect(url).toBe('/api/scripts/3/execute')
    expect(init.body).toBe('{"params":{"n":1}}')
  })

  it('executes multipart: params JSON, a file per file parameter, extra files apart', async () => {
    const mock = stubFetch(202, { id: 12, status: 'queued' })
    const data = new File(['a,b'], 'data.csv')
    const extra = new File(['x'], 'notes.txt')
    await executeScript(3, { params: { n: 1 }, paramFiles: { input: data }, extraFiles: [extra] })
    const [, init] = call(mock)
    const form = init.body as FormData
    expect(form).toBeInstanceOf(FormData)
    expect(form.get('params')).toBe('{"n":1}')
    expect((form.get('input') as File).name).toBe('data.csv')
    expect((form.get('extra-files') as File).name).toBe('notes.txt')
    expect(headers(init)['Content-Type']).toBeUndefined() // the browser sets the multipart boundary
  })
})
