/** Grouping the scripts list by folder, and the folder filter's options (parents included). */
import type { Script } from '@/api/scripts'

export interface FolderGroup {
  folder: string
  scripts: Script[]
}

/** Groups in folder order (the top level first), scripts by name inside each. */
export function groupByFolder(scripts: Script[]): FolderGroup[] {
  const map = new Map<string, Script[]>()
  for (const script of scripts) {
    const key = script.folder || ''
    if (!map.has(key)) map.set(key, [])
    map.get(key)!.push(script)
  }
  return [...map.entries()]
    .sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)))
    .map(([folder, list]) => ({ folder, scripts: [...list].sort((x, y) => x.name.localeCompare(y.name)) }))
}

/** `reports/daily` also offers `reports` (the server filters by prefix). */
export function folderOptions(folders: string[]): { value: string; label: string }[] {
  const all = new Set<string>()
  for (const folder of folders) {
    const parts = folder.split('/').filter(Boolean)
    for (let i = 1; i <= parts.length; i++) all.add(parts.slice(0, i).join('/'))
  }
  return [...all]
    .sort((a, b) => a.localeCompare(b))
    .map((value) => ({ value, label: value }))
}
