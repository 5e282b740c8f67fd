/**
 * Starting points for a new script: each template is a small, real job (not a toy), written per
 * language where that is natural, and brings its parameters so the first run shows the run form.
 * Python uses only the standard library (and the optional `scriptman` helper that every run has).
 */
import type { Language, ParameterDefinition } from '@/api/scripts'
import { TEMPLATES } from './scriptForm'

export type TemplateKind = 'hello' | 'http-check' | 'csv-report' | 'cleanup'

export interface ScriptTemplate {
  kind: TemplateKind
  language: Language
  /** Shown on the picker. */
  title: string
  /** A sentence: what it does and what to change. */
  summary: string
  /** Suggested name and description (used when those fields are still empty). */
  name: string
  description: string
  code: string
  parameters: ParameterDefinition[]
}

const param = (p: Partial<ParameterDefinition> & Pick<ParameterDefinition, 'name' | 'type'>): ParameterDefinition => ({
  description: '',
  default: null,
  required: false,
  choices: null,
  ...p,
})

// ------------------------------------------------------------------------------ HTTP check

const HTTP_PARAMS = [
  param({ name: 'URL', type: 'string', required: true, default: 'https://example.com', description: 'The address to check' }),
  param({ name: 'TIMEOUT_SECONDS', type: 'integer', default: 10, description: 'Give up after this many seconds' }),
]

const HTTP_PY = `"""Checks that a web address answers. Exits 1 when it is down, so the run fails
(and its retries, schedule history and dashboard show it)."""
import sys
import time
import urllib.error
import urllib.request

import scriptman  # parameters, typed; the run's result

url = scriptman.param("URL")
timeout = scriptman.param("TIMEOUT_SECONDS", 10)

started = time.monotonic()
try:
    request = urllib.request.Request(url, headers={"User-Agent": "scriptman-http-check"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        status = response.status
except urllib.error.HTTPError as error:  # the server answered with 4xx/5xx
    status = error.code
except (urllib.error.URLError, OSError) as error:  # no answer: DNS, refused, timeout
    print(f"DOWN {url}: {getattr(error, 'reason', error)}", file=sys.stderr)
    scriptman.set_result({"url": url, "up": False, "error": str(getattr(error, "reason", error))})
    sys.exit(1)

ms = round((time.monotonic() - started) * 1000)
up = status < 400
print(f"{'UP' if up else 'DOWN'} {url}: HTTP {status} in {ms} ms")
scriptman.set_result({"url": url, "up": up, "status": status, "ms": ms})
sys.exit(0 if up else 1)
`

const HTTP_JS = `// Checks that a web address answers. Exits 1 when it is down, so the run fails.
const scriptman = require('scriptman') // parameters, typed; the run's result

const url = scriptman.param('URL')
const timeout = scriptman.param('TIMEOUT_SECONDS', 10)

async function main() {
  const started = Date.now()
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeout * 1000) })
    const ms = Date.now() - started
    const up = response.status < 400
    console.log(\`\${up ? 'UP' : 'DOWN'} \${url}: HTTP \${response.status} in \${ms} ms\`)
    scriptman.setResult({ url, up, status: response.status, ms })
    process.exitCode = up ? 0 : 1
  } catch (error) {
    // no answer: DNS, refused, timeout
    const reason = error.cause?.message ?? error.message
    console.error(\`DOWN \${url}: \${reason}\`)
    scriptman.setResult({ url, up: false, error: reason })
    process.exitCode = 1
  }
}

main()
`

const HTTP_SH = `#!/usr/bin/env bash
# Checks that a web address answers. Exits 1 when it is down, so the run fails.
set -uo pipefail

status=$(curl --silent --location --output /dev/null --write-out '%{http_code}' \\
  --max-time "\${TIMEOUT_SECONDS:-10}" "$URL")

if [[ "$status" =~ ^[23] ]]; then
  echo "UP $URL: HTTP $status"
else
  echo "DOWN $URL: HTTP $status (000 = no answer)" >&2
  exit 1
fi
`

// ------------------------------------------------------------------------------ CSV report

const CSV_PARAMS = [
  param({ name: 'INPUT', type: 'file', description: 'A CSV file to summarise; without one, sample rows are used' }),
  param({ name: 'GROUP_BY', type: 'string', required: true, default: 'category', description: 'The column to group rows by' }),
  param({ name: 'SUM_COLUMN', type: 'string', required: true, default: 'amount', description: 'The numeric column to add up' }),
  param({ name: 'OUTPUT', type: 'string', required: true, default: 'report.csv', description: 'The file written to the run\u2019s workspace' }),
]

const CSV_PY = `"""Summarises a CSV file: rows and total per group, written as a new CSV to the run's
workspace (download it from the run's Files tab)."""
import csv
import io
import os
from collections import defaultdict

import scriptman

SAMPLE = """category,amount
books,12.50
music,9.99
books,30
games,59.90
music,4.50
"""

group_by = scriptman.param("GROUP_BY", "category")
sum_column = scriptman.param("SUM_COLUMN", "amount")
output = scriptman.param("OUTPUT", "report.csv")
source = scriptman.param("INPUT")  # the uploaded file's name, in the workspace

with open(source, newline="", encoding="utf-8") if source else io.StringIO(SAMPLE) as handle:
    rows = list(csv.DictReader(handle))

count = defaultdict(int)
total = defaultdict(float)
for row in rows:
    key = row.get(group_by) or "(empty)"
    count[key] += 1
    try:
        total[key] += float(row.get(sum_column) or 0)
    except ValueError:
        scriptman.log("warning", f"not a number in {sum_column!r}: {row.get(sum_column)!r}")

path = os.path.join(os.environ.get("WORKSPACE", "."), output)
with open(path, "w", newline="", encoding="utf-8") as handle:
    writer = csv.writer(handle)
    writer.writerow([group_by, "rows", sum_column])
    for key in sorted(count):
        writer.writerow([key, count[key], round(total[key], 2)])

print(f"{len(rows)} rows in {len(count)} groups -> {output}")
scriptman.set_result({"rows": len(rows), "groups": len(count), "file": output})
`

const CSV_JS = `// Summarises a CSV file: rows and total per group, written as a new CSV to the run's
// workspace (download it from the run's Files tab). Simple CSV: no quoted commas.
const fs = require('fs')
const path = require('path')
const scriptman = require('scriptman')

const SAMPLE = 'category,amount\\nbooks,12.50\\nmusic,9.99\\nbooks,30\\ngames,59.90\\nmusic,4.50\\n'

const groupBy = scriptman.param('GROUP_BY', 'category')
const sumColumn = scriptman.param('SUM_COLUMN', 'amount')
const output = scriptman.param('OUTPUT', 'report.csv')
const source = scriptman.param('INPUT') // the uploaded file's name, in the workspace

const [header, ...lines] = (source ? fs.readFileSync(source, 'utf8') : SAMPLE).trim().split(/\\r?\\n/)
const columns = header.split(',')
const groups = new Map()
for (const line of lines) {
  const cells = Object.fromEntries(line.split(',').map((cell, i) => [columns[i], cell]))
  const key = cells[groupBy] || '(empty)'
  const group = groups.get(key) ?? { rows: 0, total: 0 }
  group.rows += 1
  group.total += Number(cells[sumColumn]) || 0
  groups.set(key, group)
}

const out = [[groupBy, 'rows', sumColumn].join(',')]
for (const [key, g] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
  out.push([key, g.rows, Math.round(g.total * 100) / 100].join(','))
}
fs.writeFileSync(path.join(process.env.WORKSPACE ?? '.', output), out.join('\\n') + '\\n')

console.log(\`\${lines.length} rows in \${groups.size} groups -> \${output}\`)
scriptman.setResult({ rows: lines.length, groups: groups.size, file: output })
`

// ------------------------------------------------------------------------------ cleanup

const CLEANUP_PARAMS = [
  param({ name: 'FOLDER', type: 'string', required: true, description: 'The folder to clean (and its subfolders)' }),
  param({ name: 'DAYS', type: 'integer', required: true, default: 30, description: 'Delete files not changed for this many days' }),
  param({ name: 'DRY_RUN', type: 'boolean', default: true, description: 'Only list what would be deleted' }),
]

const CLEANUP_PY = `"""Deletes files older than DAYS days in FOLDER and its subfolders. With DRY_RUN (the
default) it only lists them: run it once like that, read the log, then switch DRY_RUN off."""
import sys
import time
from pathlib import Path

import scriptman

folder = Path(scriptman.param("FOLDER")).expanduser()
days = scriptman.param("DAYS", 30)
dry_run = scriptman.param("DRY_RUN", True)

if not folder.is_dir():
    print(f"{folder} is not a folder", file=sys.stderr)
    sys.exit(2)

cutoff = time.time() - days * 86400
old = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_mtime < cutoff]

freed = failed = 0
for path in sorted(old):
    size = path.stat().st_size
    if dry_run:
        print(f"would delete {path} ({size} bytes)")
    else:
        try:
            path.unlink()
            print(f"deleted {path}")
        except OSError as error:
            failed += 1
            scriptman.log("error", f"cannot delete {path}: {error}")
            continue
    freed += size

verb = "would free" if dry_run else "freed"
print(f"{len(old)} file(s) older than {days} days; {verb} {freed / 1e6:.1f} MB")
scriptman.set_result({"files": len(old), "bytes": freed, "dry_run": dry_run, "failed": failed})
sys.exit(1 if failed else 0)
`

const CLEANUP_JS = `// Deletes files older than DAYS days in FOLDER and its subfolders. With DRY_RUN (the
// default) it only lists them: run it once like that, read the log, then switch DRY_RUN off.
const fs = require('fs')
const path = require('path')
const scriptman = require('scriptman')

const folder = scriptman.param('FOLDER')
const days = scriptman.param('DAYS', 30)
const dryRun = scriptman.param('DRY_RUN', true)

if (!fs.statSync(folder, { throwIfNoEntry: false })?.isDirectory()) {
  console.error(\`\${folder} is not a folder\`)
  process.exit(2)
}

const cutoff = Date.now() - days * 86400 * 1000
const old = fs
  .readdirSync(folder, { recursive: true })
  .map((name) => path.join(folder, name))
  .filter((file) => {
    const stat = fs.lstatSync(file)
    return stat.isFile() && stat.mtimeMs < cutoff
  })

let freed = 0
let failed = 0
for (const file of old.sort()) {
  const size = fs.statSync(file).size
  if (dryRun) {
    console.log(\`would delete \${file} (\${size} bytes)\`)
  } else {
    try {
      fs.unlinkSync(file)
      console.log(\`deleted \${file}\`)
    } catch (error) {
      failed += 1
      scriptman.log('error', \`cannot delete \${file}: \${error.message}\`)
      continue
    }
  }
  freed += size
}

console.log(\`\${old.length} file(s) older than \${days} days; \${dryRun ? 'would free' : 'freed'} \${(freed / 1e6).toFixed(1)} MB\`)
scriptman.setResult({ files: old.length, bytes: freed, dry_run: dryRun, failed })
process.exitCode = failed ? 1 : 0
`

const CLEANUP_SH = `#!/usr/bin/env bash
# Deletes files older than DAYS days in FOLDER and its subfolders. With DRY_RUN (the
# default) it only lists them: run it once like that, read the log, then switch DRY_RUN off.
set -euo pipefail

if [[ ! -d "$FOLDER" ]]; then
  echo "$FOLDER is not a folder" >&2
  exit 2
fi

mapfile -d '' files < <(find "$FOLDER" -type f -mmin +"$((DAYS * 1440))" -print0)
echo "\${#files[@]} file(s) older than $DAYS days in $FOLDER"

for file in "\${files[@]}"; do
  if [[ "$DRY_RUN" == "true" ]]; then
    echo "would delete $file"
  else
    rm -f -- "$file" && echo "deleted $file"
  fi
done
`

// ------------------------------------------------------------------------------ the list

const HELLO_SUMMARY = 'The smallest script: prints a greeting. Shows how parameters arrive.'

export const SCRIPT_TEMPLATES: ScriptTemplate[] = [
  ...(['python', 'javascript', 'shell'] as const).map((language) => ({
    kind: 'hello' as const, language, title: 'Hello world', summary: HELLO_SUMMARY, name: '', description: '',
    code: TEMPLATES[language], parameters: [],
  })),
  ...([['python', HTTP_PY], ['javascript', HTTP_JS], ['shell', HTTP_SH]] as const).map(([language, code]) => ({
    kind: 'http-check' as const, language, code, parameters: HTTP_PARAMS,
    title: 'HTTP check',
    summary: 'Checks that a URL answers; the run fails when it is down. Schedule it every few minutes.',
    name: 'http-check',
    description: 'Fails when the URL does not answer with a 2xx/3xx status.',
  })),
  ...([['python', CSV_PY], ['javascript', CSV_JS]] as const).map(([language, code]) => ({
    kind: 'csv-report' as const, language, code, parameters: CSV_PARAMS,
    title: 'CSV report',
    summary: 'Groups the rows of a CSV file and writes a summary CSV to the run\u2019s files.',
    name: 'csv-report',
    description: 'Rows and totals per group of a CSV file, as report.csv in the run\u2019s files.',
  })),
  ...([['python', CLEANUP_PY], ['javascript', CLEANUP_JS], ['shell', CLEANUP_SH]] as const).map(([language, code]) => ({
    kind: 'cleanup' as const, language, code, parameters: CLEANUP_PARAMS,
    title: 'Clean up old files',
    summary: 'Deletes files older than N days in a folder; a dry run (the default) only lists them.',
    name: 'cleanup-old-files',
    description: 'Deletes files older than DAYS days in FOLDER; DRY_RUN only lists them.',
  })),
]

/** The kinds, in picker order, with the languages each comes in. */
export const TEMPLATE_KINDS: { kind: TemplateKind; title: string; summary: string; languages: Language[] }[] = [
  ...new Map(SCRIPT_TEMPLATES.map((t) => [t.kind, t])).values(),
].map((t) => ({
  kind: t.kind,
  title: t.title,
  summary: t.summary,
  languages: SCRIPT_TEMPLATES.filter((x) => x.kind === t.kind).map((x) => x.language),
}))

/** The template of `kind` in `language`, or in its first language when there is none in that one. */
export function findTemplate(kind: TemplateKind, language: Language): ScriptTemplate {
  const variants = SCRIPT_TEMPLATES.filter((t) => t.kind === kind)
  return variants.find((t) => t.language === language) ?? variants[0]
}
