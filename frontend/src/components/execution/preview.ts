/** How FileBrowser previews a workspace file, from its name (the server sends the same types inline). */
import type { FileEntry } from '@/api/executions'

/** `table`: CSV/TSV; `html`: rendered in a sandboxed frame (or as source) */
export type PreviewKind = 'image' | 'json' | 'table' | 'html' | 'text' | 'none'

const IMAGES = new Set(['png', 'jpg', 'jpeg', 'gif', 'webp'])
const TEXT = new Set([
  'txt', 'log', 'csv', 'tsv', 'md', 'py', 'js', 'mjs', 'ts', 'sh', 'bash', 'yaml', 'yml', 'toml', 'ini', 'cfg',
  'conf', 'xml', 'html', 'htm', 'css', 'sql', 'out', 'err', 'env', 'jsonl', 'ndjson', 'rst', 'tex', 'svg',
])

function extension(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1)
  const dot = name.lastIndexOf('.')
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : ''
}

export function previewKind(entry: Pick<FileEntry, 'path' | 'is_symlink' | 'is_dir'>): PreviewKind {
  if (entry.is_symlink || entry.is_dir) return 'none'
  const ext = extension(entry.path)
  if (IMAGES.has(ext)) return 'image'
  if (ext === 'json') return 'json'
  if (ext === 'csv' || ext === 'tsv') return 'table'
  if (ext === 'html' || ext === 'htm') return 'html'
  if (TEXT.has(ext) || ext === '') return 'text' // no extension: try, and refuse if it looks binary
  return 'none'
}
