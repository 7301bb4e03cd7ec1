import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parse, stringify } from 'yaml'
import { planCommand, type PlanIo } from '../../src/tracking-plan/cli.ts'

export const ROOT = resolve(import.meta.dirname, '../..')
export const PLAN_DIR = join(ROOT, 'tracking-plan')

/** A temp git repository holding a copy of tracking-plan/ committed once ("main"). */
export class PlanRepo {
  readonly dir: string
  readonly plan: string

  constructor(options: { commit?: boolean; emptyFirstCommit?: boolean } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'rb-plan-'))
    this.plan = join(this.dir, 'tracking-plan')
    this.git('init', '-q', '-b', 'main')
    this.git('config', 'user.email', 'test@example.com')
    this.git('config', 'user.name', 'test')
    this.git('config', 'commit.gpgsign', 'false')
    if (options.emptyFirstCommit) this.git('commit', '-q', '--allow-empty', '-m', 'empty')
    cpSync(PLAN_DIR, this.plan, { recursive: true })
    if (options.commit !== false) this.commit('plan')
  }

  git(...args: string[]): string {
    return execFileSync('git', args, { cwd: this.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  }

  commit(message: string): void {
    this.git('add', '-A')
    this.git('commit', '-q', '-m', message)
  }

  read(file: string): string {
    return readFileSync(join(this.plan, file), 'utf8')
  }

  write(file: string, text: string): void {
    writeFileSync(join(this.plan, file), text)
  }

  /** Structured edit of one plan file (re-serialized; formatting does not matter in temp copies). */
  edit(file: string, fn: (doc: any) => void): void {
    const doc = parse(this.read(file))
    fn(doc)
    this.write(file, stringify(doc, { lineWidth: 0 }))
  }

  replace(file: string, from: string, to: string): void {
    const text = this.read(file)
    if (!text.includes(from)) throw new Error(`"${from}" not in ${file}`)
    this.write(file, text.replace(from, () => to))
  }

  async run(args: string[], io: PlanIo = {}) {
    return runPlan(args, { cwd: this.dir, ...io })
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export async function runPlan(args: string[], io: PlanIo = {}): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await planCommand(args, { write: (s: string) => (out += s) }, { err: { write: (s: string) => (err += s) }, env: {}, progress: () => {}, ...io })
  return { code, out, err }
}
