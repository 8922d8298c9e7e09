/** Runs the built command (dist/bundle/nanscan.js, the package's bin) as a user would, and parses its JSON report. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Report } from '../../src/types.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = fileURLToPath(new URL('../../dist/bundle/nanscan.js', import.meta.url));

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
