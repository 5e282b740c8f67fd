/**
 * A small CSV/TSV reader for the file preview (RFC 4180: fields in double quotes may hold the
 * delimiter, line breaks and `""` for a quote; CRLF or LF line ends). It reads at most `maxRows`
 * rows and stops there; a preview of a file cut by size drops its last, possibly cut, row.
 */
export interface Table {
  rows: string[][]
  /** more rows follow (in the text or in the part of the file not fetched) */
  truncated: boolean
}

export function delimiterOf(path: string): string {
  return /\.tsv$/i.test(path) ? '\t' : ','
}

export function parseDelimited(text: string, delimiter = ',', maxRows = 500, cut = false): Table {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0 // a byte order mark
  const n = text.length
  const endRow = () => {
    row.push(field)
    field = ''
    rows.push(row)
    row = []
  }
  while (i < n) {
    const ch = text[i]
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"'
          i += 2
          continue
        }
        quoted = false
      } else {
        field += ch
      }
      i += 1
      continue
    }
    if (ch === '"' && field === '') {
      quoted = true
    } else if (ch === delimiter) {
      row.push(field)
      field = ''
    } else if (ch === '\n' || ch === '\r') {
      endRow()
      if (ch === '\r' && text[i + 1] === '\n') i += 1
      if (rows.length > maxRows) break
    } else {
      field += ch
    }
    i += 1
  }
  const rest = i < n
  if (!rest && (field !== '' || row.length)) {
    if (cut) {
      // the last row was cut where the fetch stopped: leave it out
      row = []
      field = ''
    } else {
      endRow()
    }
  }
  const truncated = rest || rows.length > maxRows || cut
  return { rows: rows.slice(0, maxRows), truncated }
}
