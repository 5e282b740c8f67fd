/** CodeMirror pieces shared by the code editor and the diff view (lazy-loaded with them). */
import { onBeforeUnmount, onMounted, ref, type Ref } from 'vue'
import type { Extension } from '@codemirror/state'
import { EditorView } from '@codemirror/view'
import { defaultHighlightStyle, StreamLanguage, syntaxHighlighting } from '@codemirror/language'
import { python } from '@codemirror/lang-python'
import { javascript } from '@codemirror/lang-javascript'
import { shell } from '@codemirror/legacy-modes/mode/shell'
import { oneDark } from '@codemirror/theme-one-dark'

export function languageExtension(language: string | null | undefined): Extension {
  switch (language) {
    case 'python':
      return python()
    case 'javascript':
      return javascript()
    case 'shell':
      return StreamLanguage.define(shell)
    default:
      return []
  }
}

/** Light mode follows Element Plus' colours; dark mode is one-dark. */
const lightTheme = EditorView.theme({
  '&': { backgroundColor: 'var(--el-bg-color)', color: 'var(--el-text-color-primary)' },
  '.cm-gutters': {
    backgroundColor: 'var(--el-fill-color-light)',
    color: 'var(--el-text-color-secondary)',
    borderRight: '1px solid var(--el-border-color-lighter)',
  },
  '.cm-activeLine': { backgroundColor: 'var(--el-fill-color-lighter)' },
  '.cm-activeLineGutter': { backgroundColor: 'var(--el-fill-color)' },
  '&.cm-focused .cm-cursor': { borderLeftColor: 'var(--el-text-color-primary)' },
})

const sharedTheme = EditorView.theme({
  '&': { fontSize: '13px', height: '100%' },
  '.cm-scroller': { fontFamily: 'var(--sm-mono)', lineHeight: '1.55' },
  '&.cm-focused': { outline: 'none' },
})

export function themeExtension(dark: boolean): Extension {
  return dark ? [sharedTheme, oneDark] : [sharedTheme, lightTheme, syntaxHighlighting(defaultHighlightStyle, { fallback: true })]
}

/** Whether `<html>` has the `dark` class, kept current while the component lives. */
export function useDocumentDark(): Ref<boolean> {
  const root = document.documentElement
  const dark = ref(root.classList.contains('dark'))
  let observer: MutationObserver | null = null
  onMounted(() => {
    dark.value = root.classList.contains('dark')
    observer = new MutationObserver(() => (dark.value = root.classList.contains('dark')))
    observer.observe(root, { attributes: true, attributeFilter: ['class'] })
  })
  onBeforeUnmount(() => observer?.disconnect())
  return dark
}
