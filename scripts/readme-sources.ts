/**
 * Regenerates the README's sources table (between `<!-- sources-table -->` markers) from the source files
 * themselves, so a new source documents itself. `npm run docs:sources`; `--check` fails when stale.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { loadSources } from '../src/sources/registry.ts'

const START = '<!-- sources-table -->'
const END = '<!-- /sources-table -->'
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

const rows = [...(await loadSources()).values()].map((s) =>
  `| ${cell(s.label ?? s.name)} | \`/webhooks/${s.name}\` | ${cell(s.authScheme)}${s.sharedSecretOnly ? ' (**weaker**: no signature)' : ''} | ${s.secretEnv.map((v) => `\`${v}\``).join(', ')} | ${cell(s.dedupeKey ?? '')} |`
)
const table = ['| source | URL path | authentication | secret env var(s) | idempotency key |', '|---|---|---|---|---|', ...rows].join('\n')
const readme = readFileSync('README.md', 'utf8')
const start = readme.indexOf(START)
const end = readme.indexOf(END)
if (start < 0 || end < 0) throw new Error(`README.md lacks the ${START} … ${END} markers`)
const next = `${readme.slice(0, start + START.length)}\n${table}\n${readme.slice(end)}`
if (process.argv.includes('--check')) {
  if (next !== readme) {
    console.error('README.md sources table is stale: run npm run docs:sources')
    process.exit(1)
  }
  console.log('README.md sources table is current')
} else {
  writeFileSync('README.md', next)
  console.log('README.md sources table written')
}
