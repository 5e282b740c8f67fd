/** The scripts list as a folder tree, and the folder filter's options (parents included). */
import type { Script } from '@/api/scripts'

export interface FolderGroup {
  folder: string
  scripts: Script[]
}

/** One folder of the tree: `demo/params` is a child of `demo`, even when `demo` holds no script itself. */
export interface FolderNode {
  /** The full path, '' for the top level. */
  path: string
  /** The last segment ('params' for `demo/params`). */
  name: string
  /** The scripts directly in this folder, by name. */
  scripts: Script[]
  /** Subfolders, by name. */
  children: FolderNode[]
  /** Scripts here and in every subfolder. */
  count: number
}

const segments = (folder: string) => folder.split('/').filter(Boolean)
const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name)

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
    .map(([folder, list]) => ({ folder, scripts: [...list].sort(byName) }))
}

/** The scripts as nested folders: the root holds the scripts without a folder and the top folders. */
export function folderTree(scripts: Script[]): FolderNode {
  const root: FolderNode = { path: '', name: '', scripts: [], children: [], count: 0 }
  const nodes = new Map<string, FolderNode>([['', root]])
  function node(parts: string[]): FolderNode {
    const path = parts.join('/')
    let found = nodes.get(path)
    if (!found) {
      found = { path, name: parts[parts.length - 1], scripts: [], children: [], count: 0 }
      nodes.set(path, found)
      node(parts.slice(0, -1)).children.push(found)
    }
    return found
  }
  for (const script of scripts) {
    const parts = segments(script.folder || '')
    node(parts).scripts.push(script)
    for (let i = 0; i <= parts.length; i++) node(parts.slice(0, i)).count += 1
  }
  for (const n of nodes.values()) {
    n.scripts.sort(byName)
    n.children.sort(byName)
  }
  return root
}

/** Every folder path in a tree (for "expand all"). */
export function folderPaths(node: FolderNode): string[] {
  return node.children.flatMap((child) => [child.path, ...folderPaths(child)])
}

/** `reports/daily` also offers `reports` (the server filters by prefix). */
export function folderOptions(folders: string[]): { value: string; label: string }[] {
  const all = new Set<string>()
  for (const folder of folders) {
    const parts = segments(folder)
    for (let i = 1; i <= parts.length; i++) all.add(parts.slice(0, i).join('/'))
  }
  return [...all]
    .sort((a, b) => a.localeCompare(b))
    .map((value) => ({ value, label: value }))
}
