#!/usr/bin/env node
/**
 * The `nanscan` command (the package's bin, copied to dist/bundle/nanscan.cjs by scripts/bundle.mjs): runs the
 * bundled command, dist/bundle/cli.cjs, with V8's code cache, dist/bundle/cli.cache.
 *
 * Why: most scans in CI are small, and start-up is the whole wait. Compiling the command's JavaScript (and
 * each function the first time it runs) was ~25 ms of a ~125 ms scan of a 600-record LMDB; V8 takes the
 * compiled bytecode from the cache instead. Node 20 has no code cache for ES modules (module.enableCompileCache
 * is Node 22), hence a CommonJS bundle compiled here through `vm.Script`, as Node's own CommonJS loader does.
 * The cache is written at build time by a scan of the demo datasets (so it holds the functions a scan runs, not
 * only the top level) and never at run time: the package folder may be read-only, and a command that writes
 * beside itself on every run is not one users expect. V8 checks the cache against its own version, flags and
 * the source, and a cache it rejects (another Node, a rebuilt bundle) only costs the compile it would have saved.
 *
 * NANSCAN_CODE_CACHE=off runs without the cache; =status says on stderr whether V8 took it; =write (the build)
 * writes it when the command exits.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { createRequire } = require('node:module');

const file = path.join(__dirname, 'cli.cjs');
const cacheFile = path.join(__dirname, 'cli.cache');
const mode = process.env.NANSCAN_CODE_CACHE;

let cachedData;
if (mode !== 'off' && mode !== 'write') {
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    // No cache (a build that could not write it): V8 compiles as usual.
  }
}
// Node's module wrapper with one more parameter: this file's own import(), for the ES modules left outside the
// bundle (sharp, h5wasm; src/import-esm.ts says why the bundle cannot use its own).
const source = fs.readFileSync(file, 'utf8');
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, __nanscan_import) { ${source}\n})`, {
  filename: file,
  cachedData,
});
if (mode === 'status') {
  process.stderr.write(`code cache: ${cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used'}\n`);
}
if (mode === 'write') {
  process.once('exit', () => fs.writeFileSync(cacheFile, script.createCachedData()));
}
const cli = { exports: {} };
script.runInThisContext()(cli.exports, createRequire(file), cli, file, __dirname, (specifier) => import(specifier));
