/**
 * Configuration files: `--config <file>`, else `nanscan.config.json` in the working folder, else the `nanscan`
 * key of its package.json. Keys are ScanOptions names; command-line flags override them.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ScanError } from './errors.js';
import { parseOptions, type ScanOptions } from './options.js';

/** The options a config file may set (the rest are per-run: paths, cwd, callbacks). */
const KEYS = [
  'batchSize', 'numClasses', 'failOn', 'maxWarnings', 'maxExamples', 'workers', 'limitInputPixels', 'severity',
  'missingThreshold', 'imageStrictness', 'include', 'exclude', 'rootFolder', 'timeoutMs', 'allowEmpty',
] as const satisfies readonly (keyof ScanOptions)[];

export const CONFIG_FILE = 'nanscan.config.json';

export interface LoadedConfig {
  file: string;
  options: ScanOptions;
}

/**
 * Finds and validates the configuration. Returns null when there is none.
 * @throws ScanError `SCAN_INVALID_OPTION` naming the file, the bad key and what was expected.
 */
export function loadConfig(cwd: string, explicit?: string): LoadedConfig | null {
  let file: string;
  let raw: unknown;
  if (explicit !== undefined) {
    file = path.resolve(cwd, explicit);
    if (!existsSync(file)) throw new ScanError('SCAN_INVALID_OPTION', `Config file '${explicit}' does not exist.`);
    raw = readJson(file);
  } else if (existsSync(path.join(cwd, CONFIG_FILE))) {
    file = path.join(cwd, CONFIG_FILE);
    raw = readJson(file);
  } else if (existsSync(path.join(cwd, 'package.json'))) {
    file = path.join(cwd, 'package.json');
    const pkg = readJson(file) as Record<string, unknown> | null;
    if (pkg === null || typeof pkg !== 'object' || !('nanscan' in pkg)) return null;
    raw = pkg.nanscan;
    file = `${file} (key "nanscan")`;
  } else {
    return null;
  }
  return { file, options: validate(raw, file) };
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ScanError('SCAN_INVALID_OPTION', `Cannot read config '${file}': ${(e as Error).message}`);
  }
}

export function validate(raw: unknown, file: string): ScanOptions {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ScanError('SCAN_INVALID_OPTION', `Config '${file}' must be a JSON object.`);
  }
  for (const key of Object.keys(raw)) {
    if (!(KEYS as readonly string[]).includes(key)) {
      const near = KEYS.find((k) => k.toLowerCase() === key.toLowerCase().replace(/[-_]/g, ''));
      throw new ScanError('SCAN_INVALID_OPTION',
        `Unknown key '${key}' in config '${file}'.${near ? ` Did you mean '${near}'?` : ''} Known keys: ${KEYS.join(', ')}.`);
    }
  }
  const options = raw as ScanOptions;
  try {
    parseOptions(options);
  } catch (e) {
    throw new ScanError('SCAN_INVALID_OPTION', `In config '${file}': ${(e as Error).message}`, { cause: e });
  }
  return options;
}
