/**
 * Log text → safe HTML. Every line goes through here before it reaches `v-html`:
 * plain lines are HTML-escaped by `escapeHtml`, lines with ANSI escapes by ansi_up (whose
 * `escape_html` is on — it escapes `& < > " '` in text and in link URLs, and only emits
 * `<span>`s with colour classes/styles and `<a href>` for http(s) OSC-8 links).
 *
 * Each line is rendered with a fresh colour state: lines arrive out of order when paged,
 * some are dropped from memory, so carrying colour across lines would make the same line
 * look different depending on what was loaded before it. Programs reset colours per line
 * in practice.
 */
import { AnsiUp } from 'ansi_up'

const ESC = '\u001b'
const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#x27;' }
// Control characters other than tab and ESC show up as boxes or break layout; drop them.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001a\u001c-\u001f\u007f]/g
// eslint-disable-next-line no-control-regex
const ANSI_SEQUENCE = /\u001b(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001b]*(?:\u0007|\u001b\\)|[@-Z\\-_])/g

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch])
}

/**
 * What a terminal would leave on screen for a line rewritten with carriage returns
 * (`10%\r20%\r30%` → `30%`): the last non-empty segment.
 */
export function lastSegment(text: string): string {
  if (!text.includes('\r')) return text
  const parts = text.split('\r')
  for (let i = parts.length - 1; i >= 0; i -= 1) {
    if (parts[i] !== '') return parts[i]
  }
  return ''
}

/** The text without ANSI escape sequences (for copy, search and the plain-text download). */
export function stripAnsi(text: string): string {
  return text.includes(ESC) ? text.replace(ANSI_SEQUENCE, '') : text
}

function converter(): AnsiUp {
  const ansi = new AnsiUp()
  ansi.escape_html = true // the default; set explicitly because safety depends on it
  ansi.use_classes = true // 16 colours as classes, so the theme (light/dark) picks readable shades
  return ansi
}

/** One log line as HTML that is safe for `v-html`. */
export function ansiToHtml(text: string): string {
  const visible = lastSegment(text).replace(CONTROL, '')
  if (!visible.includes(ESC)) return escapeHtml(visible)
  return converter().ansi_to_html(visible)
}

/** The line as plain text, as a terminal would show it. */
export function plainText(text: string): string {
  return stripAnsi(lastSegment(text)).replace(CONTROL, '')
}
