import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import FilePreview from '@/components/execution/FilePreview.vue'
import PathLabel from '@/components/execution/PathLabel.vue'
import { parseDelimited } from '@/components/execution/csv'
import { previewKind } from '@/components/execution/preview'

let handler: (url: string) => Response | undefined = () => undefined
beforeEach(() => {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) => handler(url) ?? new Response('{"title":"Not Found","status":404}', { status: 404 })),
  )
})
let wrapper: VueWrapper | null = null
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.unstubAllGlobals()
})

const entry = (path: string, size = 100) => ({ path, size, modified: '2026-01-01T00:00:00Z', is_dir: false, is_symlink: false })
const text = (body: string, type = 'text/plain') => new Response(body, { headers: { 'Content-Type': type } })

describe('CSV/TSV parser', () => {
  it('handles quoted fields, escaped quotes, line breaks in quotes and CRLF', () => {
    const table = parseDelimited('name,note\r\n"Smith, J","said ""hi""\nthen left"\r\nplain,x\r\n')
    expect(table.rows).toEqual([
      ['name', 'note'],
      ['Smith, J', 'said "hi"\nthen left'],
      ['plain', 'x'],
    ])
    expect(table.truncated).toBe(false)
    expect(parseDelimited('a\tb\n1\t2', '\t').rows).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ])
  })

  it('stops after maxRows and drops a row cut by the fetch', () => {
    const many = Array.from({ length: 10 }, (_, i) => `r${i},${i}`).join('\n')
    const table = parseDelimited(many, ',', 4)
    expect(table.rows).toHaveLength(4)
    expect(table.truncated).toBe(true)
    expect(parseDelimited('a,b\n1,2\n3,', ',', 10, true).rows).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ])
  })

  it('previews .csv/.tsv as tables and .html rendered', () => {
    expect(previewKind(entry('out/x.CSV'))).toBe('table')
    expect(previewKind(entry('x.tsv'))).toBe('table')
    expect(previewKind(entry('report.html'))).toBe('html')
  })
})

describe('FilePreview', () => {
  it('shows a CSV as a table with a header row and a note when cut to 500 rows', async () => {
    const rows = ['id,name', ...Array.from({ length: 600 }, (_, i) => `${i},"n, ${i}"`)].join('\n')
    handler = (url) => (url === '/api/executions/3/files/data.csv' ? text(rows, 'text/csv') : undefined)
    wrapper = mount(FilePreview, { props: { executionId: 3, entry: entry('data.csv', rows.length) } })
    await flushPromises()
    const table = wrapper.find('[data-test=preview-table]')
    expect(table.findAll('th').map((t) => t.text())).toEqual(['id', 'name'])
    expect(table.findAll('tbody tr')).toHaveLength(500)
    expect(table.find('tbody td:nth-child(2)').text()).toBe('n, 0')
    expect(wrapper.find('[data-test=preview-table-note]').text()).toContain('only the first 500 rows are shown')
    // the text as it is, on demand
    await wrapper.findAll('[data-test=preview-mode] input')[1].setValue(true)
    expect(wrapper.find('pre').text().startsWith('id,name\n0,"n, 0"')).toBe(true)
  })

  it('renders HTML in a frame without scripts or same-origin, and shows its source', async () => {
    const page = '<h1>Report</h1><script>window.parent.hacked = 1</script>'
    handler = (url) => (url === '/api/executions/3/files/out/report.html' ? text(page, 'application/octet-stream') : undefined)
    wrapper = mount(FilePreview, { props: { executionId: 3, entry: entry('out/report.html') } })
    await flushPromises()
    const frame = wrapper.find('iframe[data-test=preview-html]')
    expect(frame.attributes('sandbox')).toBe('')
    expect(frame.attributes('srcdoc')).toBe(page)
    expect(frame.attributes('src')).toBeUndefined()
    await wrapper.findAll('[data-test=preview-mode] input')[1].setValue(true)
    expect(wrapper.find('iframe').exists()).toBe(false)
    expect(wrapper.find('pre').text()).toBe(page)
  })

  it('fits an image to the panel and links it at full size', () => {
    wrapper = mount(FilePreview, { props: { executionId: 3, entry: entry('plots/chart.png') } })
    const link = wrapper.find('[data-test=preview-image-link]')
    expect(link.attributes('href')).toBe('/api/executions/3/files/plots/chart.png')
    expect(link.attributes('target')).toBe('_blank')
    expect(link.find('img').attributes('src')).toBe('/api/executions/3/files/plots/chart.png')
  })

  it('keeps a long path readable: the whole path in the tooltip, the file name apart', () => {
    const path = 'very/long/folder/name/that/goes/on/and/on/results-2026-01-01.csv'
    wrapper = mount(PathLabel, { props: { path } })
    expect(wrapper.attributes('title')).toBe(path)
    expect(wrapper.find('.name').text()).toBe('results-2026-01-01.csv')
    expect(wrapper.find('.dir').text()).toBe('very/long/folder/name/that/goes/on/and/on/')
  })
})
