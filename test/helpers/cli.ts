/** Runs the built command (dist/bundle/nanscan.cjs, the package's bin) as a user would, and parses its JSON report. */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Report } from '../../src/types.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = fileURLToPath(new URL('../../dist/bundle/nanscan.cjs', import.meta.url));

export interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], cwd = ROOT, env?: NodeJS.ProcessEnv): CliRun {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd, encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 28, ...(env === undefined ? {} : { env: { ...process.env, ...env } }),
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

export function scanJson(args: readonly string[], cwd = ROOT, env?: NodeJS.ProcessEnv): { run: CliRun; report: Report } {
  const run = runCli(['scan', '--json', '-', ...args], cwd, env);
  if (run.signal !== null || run.status === null || run.status > 1) {
    throw new Error(`nanscan exited with ${run.status ?? run.signal}: ${run.stderr}`);
  }
  return { run, report: JSON.parse(run.stdout) as Report };
}

/**
 * Test-side fault injection: writes into `dir` a preload that throws in every worker thread and worker process
 * (never in the main thread), as a broken install would, and returns the environment that loads it.
 */
export function brokenWorkersEnv(dir: string): NodeJS.ProcessEnv {
  const preload = path.join(dir, 'no-workers.cjs');
  writeFileSync(preload, "const { isMainThread } = require('node:worker_threads');\n" +
    "if (!isMainThread || typeof process.send === 'function') throw new Error('workers are broken here');\n");
  return { NODE_OPTIONS: `--require ${preload}` };
}
