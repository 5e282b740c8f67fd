import { http } from './http'
import type { Schemas } from './types'

/** The server's health and the containment its runs get: `GET /api/health` (public). */

export type SandboxMode = 'none' | 'bwrap'
export type CgroupVersion = 'v1' | 'v2' | 'none'

export interface SandboxStatus {
  mode: SandboxMode
  /** Whether bubblewrap works on this machine (probed even when the mode is `none`). */
  available: boolean
  /** `ok`, or why bubblewrap cannot be used; `runs are not sandboxed` in mode `none`. */
  detail: string
}

export interface ContainmentStatus {
  /** A cgroup per run, and which hierarchy; `none` when processes are tracked without one. */
  cgroup: CgroupVersion
  cgroup_detail: string
  /** The server's default account for runs, e.g. `scriptrun` or `root (the server's user)`. */
  run_as_user: string
  server_is_root: boolean
  /** Plain sentences: what the active containment cannot catch. */
  warnings: string[]
}

/** The document leaves `sandbox` and `containment` as open objects: their fields are typed here. */
export type Health = Omit<Schemas['HealthOut'], 'sandbox' | 'containment'> & {
  sandbox: SandboxStatus
  containment: ContainmentStatus
}

const getHealth = () => http.get<Health>('/api/health')

let once: Promise<Health> | null = null

/**
 * `getHealth()` once per page load: the shell re-mounts on every login, and nothing here changes
 * while the server runs. A failed read is forgotten, so the next mount tries again.
 */
export function getHealthOnce(): Promise<Health> {
  once ??= getHealth().catch((error: unknown) => {
    once = null
    throw error
  })
  return once
}
