import js from '@eslint/js'
import pluginVue from 'eslint-plugin-vue'
import { vueTsConfigs, withVueTs } from '@vue/eslint-config-typescript'

// Layout rules (indentation, line breaks, attributes per line...) are a formatter's job; the
// templates here are formatted by hand, so only the rules that find problems are on.
const layoutRulesOff = Object.fromEntries(
  Object.entries(pluginVue.rules)
    .filter(([, rule]) => rule.meta?.type === 'layout')
    .map(([name]) => [`vue/${name}`, 'off']),
)

export default withVueTs(
  { rootDir: import.meta.dirname },
  { name: 'app/ignores', ignores: ['dist/**', 'src/api/schema.d.ts'] },
  js.configs.recommended,
  pluginVue.configs['flat/recommended'],
  vueTsConfigs.recommended,
  {
    name: 'app/rules',
    rules: {
      ...layoutRulesOff,
      // Form sections edit the fields of a state object their page owns and passes down (see
      // ScheduleForm, ScriptSettings): replacing a prop is still an error.
      'vue/no-mutating-props': ['error', { shallowOnly: true }],
      // `_name` marks a value left unused on purpose (a callback argument, an omitted field).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    name: 'app/node-scripts',
    files: ['scripts/**/*.mjs', '*.config.{js,ts}'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
)
