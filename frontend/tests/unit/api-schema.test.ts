// @vitest-environment node
import { describe, expect, it } from 'vitest'
import document from '../../openapi.json?raw'
import committed from '../../src/api/schema.d.ts?raw'
import { firstDifference, generateTypes } from '../../scripts/api-types.mjs'

describe('the generated API types', () => {
  it('are what openapi.json gives today (else run `make api-types`)', async () => {
    const line = firstDifference(committed, await generateTypes(document))
    expect(line, `src/api/schema.d.ts is stale from line ${line}: run \`make api-types\``).toBe(0)
  }, 30_000)
})
