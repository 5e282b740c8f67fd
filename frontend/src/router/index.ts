import { createRouter, createWebHistory, type RouteLocationNormalized, type RouteRecordRaw, type RouterHistory } from 'vue-router'
import type { Role } from '@/api/auth'
import { useAuthStore } from '@/stores/auth'
import { safeNext } from '@/utils/navigation'
import { pageTitle } from '@/composables/usePageTitle'

declare module 'vue-router' {
  interface RouteMeta {
    /** The login page: no session needed, no app shell. */
    public?: boolean
    /** The lowest role that may open the page; others see why they cannot (App.vue), not a redirect. */
    role?: Role
    /** The page's name for the browser tab (a page that shows one thing names it itself). */
    title?: string
  }
}

/** Pages are lazy-loaded; `meta.role` is the lowest role that sees the page. */
export const routes: RouteRecordRaw[] = [
  {
    path: '/login',
    name: 'login',
    component: () => import('@/views/LoginView.vue'),
    meta: { public: true, title: 'Log in' },
  },
  { path: '/', name: 'dashboard', component: () => import('@/views/DashboardView.vue'), meta: { title: 'Dashboard' } },
  { path: '/scripts', name: 'scripts', component: () => import('@/views/ScriptsView.vue'), meta: { title: 'Scripts' } },
  {
    path: '/scripts/new',
    name: 'script-new',
    component: () => import('@/views/ScriptEditorView.vue'),
    meta: { role: 'editor', title: 'New script' },
  },
  {
    path: '/scripts/:id(\\d+)',
    name: 'script',
    component: () => import('@/views/ScriptEditorView.vue'),
    props: true,
    meta: { title: 'Script' },
  },
  {
    path: '/scripts/:id(\\d+)/history',
    name: 'script-history',
    component: () => import('@/views/ScriptHistoryView.vue'),
    props: true,
    meta: { title: 'Script history' },
  },
  {
    path: '/executions',
    name: 'executions',
    component: () => import('@/views/ExecutionsView.vue'),
    meta: { title: 'Executions' },
  },
  {
    path: '/executions/:id(\\d+)',
    name: 'execution',
    component: () => import('@/views/ExecutionDetailView.vue'),
    props: true,
    meta: { title: 'Run' },
  },
  {
    path: '/schedules',
    name: 'schedules',
    component: () => import('@/views/SchedulesView.vue'),
    meta: { title: 'Schedules' },
  },
  {
    path: '/schedules/new',
    name: 'schedule-new',
    component: () => import('@/views/ScheduleEditorView.vue'),
    meta: { role: 'editor', title: 'New schedule' },
  },
  {
    path: '/schedules/:id(\\d+)',
    name: 'schedule',
    component: () => import('@/views/ScheduleEditorView.vue'),
    props: true,
    meta: { title: 'Schedule' },
  },
  {
    path: '/account',
    name: 'account',
    component: () => import('@/views/AccountView.vue'),
    meta: { title: 'Account & API tokens' },
  },
  {
    path: '/admin/users',
    name: 'users',
    component: () => import('@/views/UsersView.vue'),
    meta: { role: 'admin', title: 'Users' },
  },
  {
    path: '/admin/audit',
    name: 'audit',
    component: () => import('@/views/AuditView.vue'),
    meta: { role: 'admin', title: 'Audit log' },
  },
  {
    path: '/admin/notifications',
    name: 'notifications',
    component: () => import('@/views/NotificationsView.vue'),
    meta: { role: 'admin', title: 'Notifications' },
  },
  {
    // everyone may read the list (a secret's value shows as ***); admins change it
    path: '/admin/variables',
    name: 'variables',
    component: () => import('@/views/VariablesView.vue'),
    meta: { title: 'Variables' },
  },
  {
    path: '/:pathMatch(.*)*',
    name: 'not-found',
    component: () => import('@/views/NotFoundView.vue'),
    meta: { title: 'Page not found' },
  },
]

/** The browser tab's title for a route, from its `meta.title` ("Users · Scriptman"). */
export function routeTitle(to: Pick<RouteLocationNormalized, 'meta'>): string {
  return pageTitle(to.meta.title)
}

/** The app's router; tests pass a memory history. */
export function createAppRouter(history: RouterHistory = createWebHistory()) {
  const router = createRouter({ history, routes })
  router.beforeEach(async (to) => {
    const auth = useAuthStore()
    if (!auth.checked) await auth.refresh()
    if (to.meta.public) return auth.user && to.name === 'login' ? { path: safeNext(to.query.next) } : true
    if (!auth.user) return { name: 'login', query: to.fullPath === '/' ? {} : { next: to.fullPath } }
    // A page above the user's role still opens: the shell says which role it needs (App.vue),
    // instead of a silent jump to the dashboard that looks like a broken link.
    return true
  })
  // Runs before the new page renders: a page that names what it shows overrides this in its setup.
  // A change of the query alone (a list's filters) keeps the page, and so the title it set.
  router.afterEach((to, from, failure) => {
    if (!failure && (to.name !== from.name || to.path !== from.path)) document.title = routeTitle(to)
  })
  return router
}
