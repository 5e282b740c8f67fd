import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { useAuthStore } from '@/stores/auth'
import { safeNext } from '@/utils/navigation'

/** Pages are lazy-loaded; `meta.role` is the lowest role that sees the page. */
export const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('@/views/LoginView.vue'), meta: { public: true } },
  { path: '/', name: 'dashboard', component: () => import('@/views/DashboardView.vue') },
  { path: '/scripts', name: 'scripts', component: () => import('@/views/ScriptsView.vue') },
  {
    path: '/scripts/new',
    name: 'script-new',
    component: () => import('@/views/ScriptEditorView.vue'),
    meta: { role: 'editor' },
  },
  { path: '/scripts/:id(\\d+)', name: 'script', component: () => import('@/views/ScriptEditorView.vue'), props: true },
  {
    path: '/scripts/:id(\\d+)/history',
    name: 'script-history',
    component: () => import('@/views/ScriptHistoryView.vue'),
    props: true,
  },
  { path: '/executions', name: 'executions', component: () => import('@/views/ExecutionsView.vue') },
  {
    path: '/executions/:id(\\d+)',
    name: 'execution',
    component: () => import('@/views/ExecutionDetailView.vue'),
    props: true,
  },
  { path: '/schedules', name: 'schedules', component: () => import('@/views/SchedulesView.vue') },
  {
    path: '/schedules/new',
    name: 'schedule-new',
    component: () => import('@/views/ScheduleEditorView.vue'),
    meta: { role: 'editor' },
  },
  {
    path: '/schedules/:id(\\d+)',
    name: 'schedule',
    component: () => import('@/views/ScheduleEditorView.vue'),
    props: true,
  },
  { path: '/account', name: 'account', component: () => import('@/views/AccountView.vue') },
  { path: '/admin/users', name: 'users', component: () => import('@/views/UsersView.vue'), meta: { role: 'admin' } },
  { path: '/admin/audit', name: 'audit', component: () => import('@/views/AuditView.vue'), meta: { role: 'admin' } },
  { path: '/:pathMatch(.*)*', name: 'not-found', component: () => import('@/views/NotFoundView.vue') },
]

export function createAppRouter() {
  const router = createRouter({ history: createWebHistory(), routes })
  router.beforeEach(async (to) => {
    const auth = useAuthStore()
    if (!auth.checked) await auth.refresh()
    if (to.meta.public) return auth.user && to.name === 'login' ? { path: safeNext(to.query.next) } : true
    if (!auth.user) return { name: 'login', query: to.fullPath === '/' ? {} : { next: to.fullPath } }
    if (to.meta.role === 'admin' && !auth.isAdmin) return { name: 'dashboard' }
    if (to.meta.role === 'editor' && !auth.canEdit) return { name: 'dashboard' }
    return true
  })
  return router
}
