/**
 * Output files of the CLI (--json, --junit, --sarif, --html, --write-baseline): checked before any work, so
 * that a typo in a folder name costs one line and exit 2, not a scan of 100 GB thrown away at the end.
 * Nothing is created by the check: a scan that then fails leaves no empty report behind.
 */
import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ScanError } from '../errors.js';

/** Output options by flag, as typed; `-` (stdout) and undefined are left out. */
export type OutputFlags = Record<string, string | undefined>;

function cannot(flag: string, file: string, why: string): ScanError {
  return new ScanError('SCAN_OUTPUT_NOT_WRITABLE', `Cannot write ${flag} to '${file}': ${why}.`);
}

/**
 * Throws ScanError SCAN_OUTPUT_NOT_WRITABLE when a file cannot be written where asked: its folder is missing or
 * not a folder, it is a folder itself, or there is no permission to write it (or to create files in its folder).
 */
export function checkOutputPath(flag: string, file: string, cwd: string): void {
  const abs = path.resolve(cwd, file);
  let stat;
  try {
    stat = statSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ENOTDIR: a file where a folder of the path should be; the folder checks below name it.
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw cannot(flag, file, (e as Error).message);
  }
  if (stat !== undefined) {
    if (stat.isDirectory()) throw cannot(flag, file, 'it is a folder');
    try {
      accessSync(abs, constants.W_OK);
    } catch {
      throw cannot(flag, file, 'no permission to write it');
    }
    return;
  }
  const dir = path.dirname(abs);
  const shownDir = path.dirname(file);
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw cannot(flag, file, `a part of '${shownDir}' is not a folder`);
    throw cannot(flag, file, `the folder '${shownDir}' does not exist`);
  }
  if (!dirStat.isDirectory()) throw cannot(flag, file, `'${shownDir}' is not a folder`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw cannot(flag, file, `no permission to create files in '${shownDir}'`);
  }
}

/** Checks every output of a command; `-` is stdout. */
export function checkOutputs(outputs: OutputFlags, cwd: string): void {
  for (const [flag, file] of Object.entries(outputs)) {
    if (file !== undefined && file !== '-') checkOutputPath(flag, file, cwd);
  }
}

/** writeFileSync, failing with one line (a disk that filled up during the scan) instead of a stack. */
export function writeOutput(flag: string, file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (e) {
    throw cannot(flag, file, (e as Error).message);
  }
}
