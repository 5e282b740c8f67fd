import { describe, expect, it } from 'vitest'
import { ansiToHtml, escapeHtml, lastSegment, plainText, stripAnsi } from '@/utils/ansi'

const ESC = '\u001b'

describe('ansi', () => {
  it('escapes HTML in plain lines', () => {
    expect(ansiToHtml('<img src=x onerror=alert(1)> & "q" \'s\'')).toBe(
      '&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot; &#x27;s&#x27;',
    )
  })

  it('escapes HTML inside coloured text too', () => {
    const html = ansiToHtml(`${ESC}[31m<b>red</b>${ESC}[0m plain <i>`)
    expect(html).toContain('class="ansi-red-fg"')
    expect(html).toContain('&lt;b&gt;red&lt;/b&gt;')
    expect(html).toContain(' plain &lt;i&gt;')
    expect(html).not.toMatch(/<b>|<i>/)
  })

  it('renders bright, background and bold as classes/styles', () => {
    const html = ansiToHtml(`${ESC}[1;92;44mok${ESC}[0m`)
    expect(html).toContain('ansi-bright-green-fg')
    expect(html).toContain('ansi-blue-bg')
    expect(html).toContain('font-weight:bold')
  })

  it('does not carry colour state from one line to the next', () => {
    ansiToHtml(`${ESC}[31mstill red?`)
    expect(ansiToHtml(`${ESC}[0mplain`)).toBe('plain')
    expect(ansiToHtml(`next`)).toBe('next')
  })

  it('keeps only http(s) hyperlinks, escaped', () => {
    const good = ansiToHtml(`${ESC}]8;;https://example.com/?a=1&b="2"${ESC}\\link${ESC}]8;;${ESC}\\`)
    expect(good).toContain('<a href="https://example.com/?a=1&amp;b=&quot;2&quot;">link</a>')
    const bad = ansiToHtml(`${ESC}]8;;javascript:alert(1)${ESC}\\x${ESC}]8;;${ESC}\\`)
    expect(bad).not.toContain('javascript')
    expect(bad).not.toContain('<a')
  })

  it('shows the last carriage-return segment of progress bars', () => {
    expect(lastSegment('10%\r50%\r100%')).toBe('100%')
    expect(lastSegment('done\r')).toBe('done')
    expect(lastSegment('plain')).toBe('plain')
    expect(ansiToHtml('[#   ]\r[### ]\r[####] <ok>')).toBe('[####] &lt;ok&gt;')
  })

  it('drops stray control characters but keeps tabs', () => {
    expect(ansiToHtml('a\u0007b\u0000c\td')).toBe('abc\td')
  })

  it('strips escapes for copy and download', () => {
    expect(stripAnsi(`${ESC}[1;31merror${ESC}[0m: ${ESC}[2Kx`)).toBe('error: x')
    expect(plainText(`${ESC}[32m1/3${ESC}[0m\r${ESC}[32m3/3${ESC}[0m`)).toBe('3/3')
    expect(escapeHtml('<>')).toBe('&lt;&gt;')
  })
})
