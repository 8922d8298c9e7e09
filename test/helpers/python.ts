/**
 * Runs a Python script with Debian's interpreter, the one that sees the system's lmdb, plyvel, h5py, numpy and
 * PIL modules (another python3 comes first on PATH). For writing fixtures with the formats' own libraries.
 */
import { spawnSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

/** Runs `script` (source text) with `args` as sys.argv[1:]; returns its stdout, throws with its stderr on failure. */
export function runPython(script: string, args: readonly string[] = []): string {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${PYTHON} failed (${r.status ?? r.signal}): ${r.stderr}${r.error?.message ?? ''}`);
  return r.stdout;
}
