import { afterEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { ProblemError } from '@/api/http'
import type { Health } from '@/api/system'
import ContainmentBadge from '@/components/ContainmentBadge.vue'

const getHealthOnce = vi.fn<() => Promise<Health>>()
vi.mock('@/api/system', () => ({ getHealthOnce: () => getHealthOnce() }))

const HEALTH: Health = {
  status: 'ok',
  version: '0.1.0',
  database: 'ok',
  uptime_seconds: 3,
  executor: 'local',
  queue: { queued: 0, delayed: 0 },
  scheduler: { enabled: true, leader_here: true, lock: "file", leader: { host: "box", pid: 42, since: null } },
  sandbox: { mode: 'bwrap', available: true, detail: 'ok' },
  containment: { cgroup: 'v2', cgroup_detail: 'cgroup v2', run_as_user: 'scriptrun', server_is_root: true, warnings: [] },
}

let wrapper: VueWrapper | null = null
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
  getHealthOnce.mockReset()
})

async function mountBadge() {
  wrapper = mount(ContainmentBadge, { attachTo: document.body })
  await flushPromises()
  return wrapper.get('[data-test=containment-badge]')
}

describe('ContainmentBadge', () => {
  it('shows the label, in the warning colour when there are warnings, and the details on click', async () => {
    getHealthOnce.mockResolvedValue({
      ...HEALTH,
      containment: { ...HEALTH.containment, cgroup: 'v1', warnings: ['scripts run as root: set SCRIPTMAN_RUN_AS_USER'] },
    })
    const badge = await mountBadge()
    expect(getHealthOnce).toHaveBeenCalledTimes(1)
    expect(badge.text()).toBe('cgroup v1 · bwrap')
    expect(badge.classes()).toContain('warning')
    expect(badge.attributes('aria-label')).toBe('Run containment: cgroup v1 · bwrap, 1 warning')
    await badge.trigger('click')
    await flushPromises()
    const details = document.body.querySelector('[data-test=containment-details]')
    expect(details?.querySelector('[data-test=containment-run-as]')?.textContent).toBe('scriptrun')
    expect(details?.querySelector('[data-test=containment-warnings]')?.textContent).toContain('Scripts run as root')
  })

  it('is green when nothing is missing', async () => {
    getHealthOnce.mockResolvedValue(HEALTH)
    const badge = await mountBadge()
    expect(badge.text()).toBe('cgroup v2 · bwrap')
    expect(badge.classes()).toContain('ok')
  })

  it('says the status is unknown when the server cannot be read', async () => {
    getHealthOnce.mockRejectedValue(new ProblemError({ title: 'Network error', status: 0, detail: 'Cannot reach the Scriptman server.' }))
    const badge = await mountBadge()
    expect(badge.text()).toBe('status unknown')
    expect(badge.classes()).toContain('warning')
  })
})
