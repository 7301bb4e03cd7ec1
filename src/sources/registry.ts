import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Source } from './types.ts'

// Files in this folder that are not platforms. Every other file is one source: adding a platform is adding a file.
const SUPPORT = new Set(['types.ts', 'signatures.ts', 'registry.ts'])

function isSource(value: unknown): value is Source {
  const v = value as Source
  return !!v && typeof v === 'object' && typeof v.name === 'string' && typeof v.verify === 'function' && typeof v.normalize === 'function'
}

export async function loadSources(): Promise<Map<string, Source>> {
  const dir = dirname(fileURLToPath(import.meta.url))
  const files = readdirSync(dir).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts') && !SUPPORT.has(f.replace(/\.js$/, '.ts')))
  const sources = new Map<string, Source>()
  for (const file of files.sort()) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as Record<string, unknown>
    for (const exported of Object.values(mod)) {
      if (isSource(exported)) {
        if (sources.has(exported.name)) throw new Error(`two sources are named ${exported.name}`)
        sources.set(exported.name, exported)
      }
    }
  }
  return sources
}
