/**
 * Builds the optional native JPEG decoder (native/jpeg, C on libjpeg-turbo) with npm's bundled node-gyp.
 * Never fails the install: without a compiler or jpeglib.h it prints one warning line and exits 0, and
 * src/decode/jpeg-native.ts then finds no addon and the scanner decodes JPEGs with sharp.
 * Skips the build when the addon is newer than its sources (pass --force to rebuild anyway).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIR = join(ROOT, 'native', 'jpeg');
const SOURCES = ['jpeg.c', 'binding.gyp'].map((f) => join(DIR, f));
export const ADDON = join(DIR, 'build', 'Release', 'nanscan_jpeg.node');

/** How to run node-gyp: npm's own copy next to this node, else one on PATH (`npx --no-install` finds both). */
function nodeGypCommand() {
  const prefix = join(dirname(process.execPath), '..');
  const candidates = [
    join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), // Unix layout
    join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), // Windows
  ];
  const script = candidates.find((p) => existsSync(p));
  if (script) return [process.execPath, [script]];
  return [process.platform === 'win32' ? 'npx.cmd' : 'npx', ['--no-install', 'node-gyp']];
}

/** node-gyp downloads headers unless told where they are; a Node installed under a prefix ships them there. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

function upToDate() {
  if (!existsSync(ADDON)) return false;
  const built = statSync(ADDON).mtimeMs;
  return SOURCES.every((f) => statSync(f).mtimeMs <= built);
}

/** A short reason from node-gyp's output, for the one-line warning. */
function reason(result) {
  if (result.error) return result.error.code === 'ENOENT' ? 'node-gyp not found' : result.error.message;
  const out = `${result.stdout}\n${result.stderr}`;
  const header = /fatal error: ([\w./-]+\.h): No such file/.exec(out);
  if (header) return `${header[1]} not found${header[1] === 'jpeglib.h' ? ': install libjpeg-dev (libjpeg-turbo)' : ''}`;
  if (/cannot find -ljpeg/.test(out)) return 'libjpeg not found: install libjpeg-dev';
  if (/(cc|gcc|clang|make)[^\n]*(not found|No such file)/.test(out)) return 'no C compiler or make';
  if (/Could not find any Python/i.test(out)) return 'node-gyp found no Python';
  return `node-gyp exited with ${result.status ?? result.signal}`;
}

/** Builds if needed; returns { ok, built, reason?, ms }. Prints one line (unless quiet) and never throws. */
export function buildNative({ force = false, quiet = false } = {}) {
  const t0 = performance.now();
  if (!force && upToDate()) return { ok: true, built: false, ms: 0 };
  const [cmd, args] = nodeGypCommand();
  const result = spawnSync(cmd, [...args, 'rebuild', ...nodedirArgs()], { cwd: DIR, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Math.round(performance.now() - t0);
  if (result.status === 0 && existsSync(ADDON)) {
    if (!quiet) console.log(`build-native: native/jpeg/build/Release/nanscan_jpeg.node (${ms} ms)`);
    return { ok: true, built: true, ms };
  }
  const why = reason(result);
  if (!quiet) console.warn(`nanscan: native JPEG decoder not built (${why}); JPEGs will be decoded with sharp, slower`);
  return { ok: false, built: false, reason: why, ms };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildNative({ force: process.argv.includes('--force') });
  process.exitCode = 0;
}
