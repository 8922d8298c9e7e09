/**
 * Builds the optional native decoders with npm's bundled node-gyp, each on its own so that a machine lacking one
 * library still gets the other: native/jpeg (C on libjpeg-turbo) and native/png (C on libdeflate).
 * Never fails the install: an addon that does not build (no compiler, no jpeglib.h or libdeflate.h) prints one
 * warning line and the script exits 0; src/decode/jpeg-native.ts and png-native.ts then find no addon and the
 * scanner decodes those images with sharp.
 * Skips a build when the addon is newer than its sources (pass --force to rebuild anyway).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The addons: source folder, .node name, and how to tell a missing library from other failures. */
export const ADDONS = {
  jpeg: {
    dir: 'native/jpeg', sources: ['jpeg.c', 'binding.gyp'], target: 'nanscan_jpeg', header: 'jpeglib.h', lib: 'jpeg',
    install: 'install libjpeg-dev (libjpeg-turbo)', what: 'JPEG', fallback: 'JPEGs',
  },
  png: {
    dir: 'native/png', sources: ['png.c', 'binding.gyp'], target: 'nanscan_png', header: 'libdeflate.h', lib: 'deflate',
    install: 'install libdeflate-dev', what: 'PNG', fallback: 'PNGs',
  },
};

/** Path of the JPEG addon (kept for callers of the one-addon version of this script). */
export const ADDON = addonPath(ADDONS.jpeg);

function addonPath(addon) {
  return join(ROOT, addon.dir, 'build', 'Release', `${addon.target}.node`);
}

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

function upToDate(addon) {
  const path = addonPath(addon);
  if (!existsSync(path)) return false;
  const built = statSync(path).mtimeMs;
  return addon.sources.every((f) => statSync(join(ROOT, addon.dir, f)).mtimeMs <= built);
}

/** A short reason from node-gyp's output, for the one-line warning. */
function reason(result, addon) {
  if (result.error) return result.error.code === 'ENOENT' ? 'node-gyp not found' : result.error.message;
  const out = `${result.stdout}\n${result.stderr}`;
  const header = /fatal error: ([\w./-]+\.h): No such file/.exec(out);
  if (header) return `${header[1]} not found${header[1] === addon.header ? `: ${addon.install}` : ''}`;
  if (new RegExp(`cannot find -l${addon.lib}\\b`).test(out)) return `lib${addon.lib} not found: ${addon.install}`;
  if (/(cc|gcc|clang|make)[^\n]*(not found|No such file)/.test(out)) return 'no C compiler or make';
  if (/Could not find any Python/i.test(out)) return 'node-gyp found no Python';
  return `node-gyp exited with ${result.status ?? result.signal}`;
}

/** Builds one addon if needed; returns { ok, built, reason?, ms }. Prints one line (unless quiet), never throws. */
export function buildAddon(name, { force = false, quiet = false } = {}) {
  const addon = ADDONS[name];
  const t0 = performance.now();
  if (!force && upToDate(addon)) return { ok: true, built: false, ms: 0 };
  const [cmd, args] = nodeGypCommand();
  const result = spawnSync(cmd, [...args, 'rebuild', ...nodedirArgs()], {
    cwd: join(ROOT, addon.dir), encoding: 'utf8', maxBuffer: 64 << 20,
  });
  const ms = Math.round(performance.now() - t0);
  if (result.status === 0 && existsSync(addonPath(addon))) {
    if (!quiet) console.log(`build-native: ${addon.dir}/build/Release/${addon.target}.node (${ms} ms)`);
    return { ok: true, built: true, ms };
  }
  const why = reason(result, addon);
  if (!quiet) console.warn(`nanscan: native ${addon.what} decoder not built (${why}); ${addon.fallback} will be decoded with sharp, slower`);
  return { ok: false, built: false, reason: why, ms };
}

/** Builds the JPEG addon (the one-addon entry point, kept for existing callers). */
export function buildNative(options = {}) {
  return buildAddon('jpeg', options);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const force = process.argv.includes('--force');
  for (const name of Object.keys(ADDONS)) buildAddon(name, { force });
  process.exitCode = 0;
}
