import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Health } from '@/api/system'
import { containmentLabel, describeContainment, sentence, unknownContainment } from '@/utils/containment'

function health(partial: { sandbox?: Partial<Health['sandbox']>; containment?: Partial<Health['containment']> } = {}): Health {
  return {
    status: 'ok',
    version: '0.1.0',
    database: 'ok',
    uptime_seconds: 3,
    executor: 'local',
    queue: { queued: 0, delayed: 0 },
    scheduler: { enabled: true, leader_here: true, lock: "file", leader: { host: "box", pid: 42, since: null } },
    sandbox: { mode: 'bwrap', available: true, detail: 'ok', ...partial.sandbox },
    containment: {
      cgroup: 'v2',
      cgroup_detail: 'cgroup v2 at /sys/fs/cgroup/scriptman',
      run_as_user: 'scriptrun',
      server_is_root: true,
      warnings: [],
      ...partial.containment,
    },
  }
}
const ROOT_WARNING = 'scripts run as root: set SCRIPTMAN_RUN_AS_USER to an unprivileged account'

describe('containment label', () => {
  it('names the cgroup version and the sandbox compactly', () => {
    expect(containmentLabel(health())).toBe('cgroup v2 · bwrap')
    expect(containmentLabel(health({ containment: { cgroup: 'v1' } }))).toBe('cgroup v1 · bwrap')
    expect(containmentLabel(health({ containment: { cgroup: 'none' }, sandbox: { mode: 'none' } }))).toBe('no cgroup')
    expect(containmentLabel(health({ sandbox: { mode: 'none' } }))).toBe('cgroup v2')
    expect(containmentLabel(health({ sandbox: { available: false, detail: 'no user namespaces' } }))).toBe(
      'cgroup v2 · bwrap unavailable',
    )
  })
})

describe('containment details', () => {
  it('is ok with a cgroup, a working sandbox, an unprivileged user and no warnings', () => {
    const view = describeContainment(health())
    expect(view.level).toBe('ok')
    expect(view.warnings).toEqual([])
    expect(view.summary).toBe('Run containment: cgroup v2 · bwrap')
    expect(view.lines).toEqual([
      { key: 'cgroup', label: 'cgroup', value: 'cgroup v2 at /sys/fs/cgroup/scriptman', warn: false },
      { key: 'run-as', label: 'Runs as', value: 'scriptrun', warn: false },
      { key: 'sandbox', label: 'Sandbox', value: 'bubblewrap', warn: false },
    ])
    expect(view.footer).toBe('Scriptman 0.1.0 · local executor')
  })

  it('warns with the server’s warnings, as sentences', () => {
    const view = describeContainment(
      health({
        containment: { cgroup: 'v1', cgroup_detail: 'cgroup v1', run_as_user: "root (the server's user)", warnings: [ROOT_WARNING] },
        sandbox: { mode: 'none', detail: 'runs are not sandboxed' },
      }),
    )
    expect(view.level).toBe('warning')
    expect(view.label).toBe('cgroup v1')
    expect(view.warnings).toEqual(['Scripts run as root: set SCRIPTMAN_RUN_AS_USER to an unprivileged account'])
    expect(view.summary).toBe('Run containment: cgroup v1, 1 warning')
    expect(view.lines.find((l) => l.key === 'run-as')).toMatchObject({ value: "root (the server's user)", warn: true })
    expect(view.lines.find((l) => l.key === 'sandbox')).toMatchObject({ value: 'none: runs are not sandboxed', warn: false })
  })

  it('warns when bwrap is the mode but cannot be used, even without server warnings', () => {
    const view = describeContainment(health({ sandbox: { available: false, detail: 'bwrap: setting up uid map: Permission denied' } }))
    expect(view.level).toBe('warning')
    expect(view.lines.find((l) => l.key === 'sandbox')).toMatchObject({
      value: 'bubblewrap, unusable: bwrap: setting up uid map: Permission denied',
      warn: true,
    })
    expect(view.warnings).toHaveLength(1)
    expect(view.warnings[0]).toMatch(/^The bwrap sandbox is configured but unusable \(bwrap: setting up uid map/)
  })

  it('an unavailable bwrap in mode none is no warning (nothing is sandboxed on purpose)', () => {
    expect(describeContainment(health({ sandbox: { mode: 'none', available: false } })).level).toBe('ok')
  })

  it('counts several warnings and marks a missing cgroup', () => {
    const view = describeContainment(
      health({ containment: { cgroup: 'none', cgroup_detail: 'no writable cgroup hierarchy', warnings: ['a', 'b', ' '] } }),
    )
    expect(view.label).toBe('no cgroup · bwrap')
    expect(view.warnings).toEqual(['A', 'B'])
    expect(view.summary).toBe('Run containment: no cgroup · bwrap, 2 warnings')
    expect(view.lines[0]).toMatchObject({ value: 'no writable cgroup hierarchy', warn: true })
  })

  it('copes with a server that reports no containment', () => {
    const old = { ...health() } as Partial<Health>
    delete old.containment
    const view = describeContainment(old as Health)
    expect(view.label).toBe('containment unknown · bwrap')
    expect(view.level).toBe('warning')
    expect(view.lines.find((l) => l.key === 'run-as')?.value).toBe('unknown')
  })

  it('has a view for an unreadable health endpoint', () => {
    const view = unknownContainment('Cannot reach the Scriptman server.')
    expect(view).toMatchObject({ label: 'status unknown', level: 'warning', lines: [] })
    expect(view.warnings[0]).toBe("The server's health could not be read: Cannot reach the Scriptman server.")
  })

  it('capitalises sentences', () => {
    expect(sentence('  no cgroup per run ')).toBe('No cgroup per run')
    expect(sentence('')).toBe('')
  })
})

describe('health once per page load', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
    vi.resetModules()
  })

  const reply = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

  it('asks the server once, and again only after a failure', async () => {
    const fetchMock = vi
      .fn()
      .mockResolvedValueOnce(reply({ title: 'Service Unavailable', status: 503 }, 503))
      .mockResolvedValue(reply(health()))
    vi.stubGlobal('fetch', fetchMock)
    const { getHealthOnce } = await import('@/api/system')
    await expect(getHealthOnce()).rejects.toMatchObject({ status: 503 })
    const [first, second] = await Promise.all([getHealthOnce(), getHealthOnce()])
    expect(first).toEqual(health())
    expect(second).toBe(first)
    await getHealthOnce()
    expect(fetchMock).toHaveBeenCalledTimes(2)
    expect(fetchMock.mock.calls[1][0]).toBe('/api/health')
  })
})
