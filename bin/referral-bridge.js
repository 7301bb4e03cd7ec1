#!/usr/bin/env node
// The bridge is TypeScript run through tsx's loader: one source of truth, no stale build output.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/cli/index.ts')
process.exitCode = await main(process.argv.slice(2))
