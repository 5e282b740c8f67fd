import { afterEach, describe, expect, it, vi } from 'vitest'
import { buildUrl, errorMessage, http, ProblemError, setCsrfToken, setUnauthorizedHandler } from '@/api/http'
import { safeNext } from '@/utils/navigation'

function reply(status: number, body: unknown, type = 'application/json') {
  return vi.fn(async () =>
    new Response(body === null ? null : typeof body === 'string' ? body : JSON.stringify(body), {
      status,
      headers: body === null ? {} : { 'Content-Type': type },
    }),
  )
}

afterEach(() => {
  vi.unstubAllGlobals()
  setCsrfToken(null)
  setUnauthorizedHandler(null)
})

describe('http', () => {
  it('builds query strings from the parameters that have a value', () => {
    expect(buildUrl('/api/x', { a: 1, b: '', c: null, d: undefined, e: false, q: 'a b&c' })).toBe('/api/x?a=1&e=false&q=a+b%26c')
    expect(buildUrl('/api/x')).toBe('/api/x')
  })

  it('sends JSON with the CSRF token on writes only', async () => {
    const fetchMock = reply(201, { id: 3 })
    vi.stubGlobal('fetch', fetchMock)
    setCsrfToken('tok')
    expect(await http.post('/api/scripts', { name: 'n' })).toEqual({ id: 3 })
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/scripts')
    expect(init.method).toBe('POST')
    expect(init.body).toBe('{"name":"n"}')
    expect((init.headers as Record<string, string>)['X-CSRF-Token']).toBe('tok')
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json')
    await http.get('/api/scripts')
    const getInit = (fetchMock.mock.calls[1] as unknown as [string, RequestInit])[1]
    expect((getInit.headers as Record<string, string>)['X-CSRF-Token']).toBeUndefined()
  })

  it('turns a problem body into a ProblemError that names the field', async () => {
    vi.stubGlobal('fetch', reply(422, { title: 'Invalid', status: 422, detail: 'must be an integer', field: 'params.COUNT' }, 'application/problem+json'))
    const error = (await http.post('/api/scripts/1/execute', {}).catch((e: unknown) => e)) as ProblemError
    expect(error).toBeInstanceOf(ProblemError)
    expect(error.status).toBe(422)
    expect(error.field).toBe('params.COUNT')
    expect(errorMessage(error)).toBe('params.COUNT: must be an integer')
  })

  it('explains server errors and network failures in words', async () => {
    vi.stubGlobal('fetch', reply(502, '<html>bad gateway</html>', 'text/html'))
    expect(errorMessage(await http.get('/api/x').catch((e: ProblemError) => e))).toMatch(/server had a problem/)
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))))
    const error = (await http.get('/api/x').catch((e: unknown) => e)) as ProblemError
    expect(error.status).toBe(0)
    expect(errorMessage(error)).toMatch(/Cannot reach/)
  })

  it('calls the 401 hook (except for the login call itself) and returns null for 204', async () => {
    const handler = vi.fn()
    setUnauthorizedHandler(handler)
    vi.stubGlobal('fetch', reply(401, { title: 'Unauthorized', status: 401 }))
    await http.get('/api/scripts').catch(() => null)
    await http.post('/api/auth/login', {}).catch(() => null)
    expect(handler).toHaveBeenCalledTimes(1)
    vi.stubGlobal('fetch', reply(204, null))
    expect(await http.delete('/api/scripts/1')).toBeNull()
  })
})

describe('safeNext', () => {
  it.each([
    ['/scripts/3', '/scripts/3'],
    ['//evil.example', '/'],
    ['https://evil.example', '/'],
    ['javascript:alert(1)', '/'],
    ['/\\/evil', '/'],
    [undefined, '/'],
    [['/a'], '/'],
  ])('keeps only same-origin paths: %s', (value, expected) => {
    expect(safeNext(value)).toBe(expected)
  })
})
