/** Client-side checks of dependency specs; the server has the last word (pip's own parser). */
import type { Language } from '@/api/scripts'

const NPM_SPEC = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]{0,213}(@\S{1,500})?$/
const PIP_START = /^[A-Za-z0-9][A-Za-z0-9._-]*/

export const DEPENDENCY_HINTS: Record<Language, { placeholder: string; hint: string }> = {
  python: {
    placeholder: 'requests>=2.31',
    hint: 'pip requirement specifiers, e.g. requests>=2.31, pandas==2.2.*, httpx[http2]',
  },
  javascript: {
    placeholder: 'lodash@^4.17.21',
    hint: 'npm specs name@range, e.g. lodash@^4.17.21, @octokit/rest@20',
  },
  shell: { placeholder: '', hint: 'Shell scripts cannot declare dependencies; use tools installed on the server.' },
}

/** Why a spec would be refused, or null. */
export function dependencyProblem(language: Language, spec: string): string | null {
  const value = spec.trim()
  if (!value) return 'Empty requirement'
  if (value.startsWith('-')) return 'Options such as -e or --index-url are not allowed'
  if (language === 'shell') return 'Shell scripts cannot declare dependencies'
  if (language === 'javascript' && !NPM_SPEC.test(value)) return "Expected an npm spec like 'lodash@^4.17'"
  if (language === 'python' && !PIP_START.test(value)) return 'Expected a pip requirement like requests>=2.31'
  return null
}

/** Pasted text → specs: one per line (commas belong to version ranges, so they do not split). */
export function splitSpecs(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line && !line.startsWith('#'))
}
