/**
 * Runs one of the command's bundles (scripts/bundle.mjs) with V8's code cache: `cli.cjs` for the command (from
 * the bin, nanscan.cjs) and `worker-main.cjs` for its workers (from worker.cjs, the pool's worker entry), each with
 * its cache beside it (`cli.cache`; `worker-main.thread.cache` and `worker-main.process.cache`).
 *
 * Why: most scans in CI are small, and start-up is the whole wait; a worker's start-up is paid again by every
 * thread and process. Compiling the JavaScript (and each function the first time it runs) was ~45 ms of a
 * ~130 ms scan of a 600-record LMDB; V8 takes the compiled bytecode from the cache instead. Node 20 has no code
 * cache for ES modules (module.enableCompileCache is Node 22), hence CommonJS bundles compiled here through
 * `vm.Script`, with Node's module wrapper, as Node's own CommonJS loader does.
 *
 * The caches are written at build time by a scan of the demo datasets and fixtures (so they hold the functions a
 * scan runs, not only the top level), never at run time: the package folder may be read-only, and a command
 * that writes beside itself on every run is not one users expect. V8 checks a cache against its own version,
 * flags and the source, and a cache it rejects (another Node, a rebuilt bundle) only costs the compile it would
 * have saved.
 *
 * NANSCAN_CODE_CACHE=off runs without the caches; =status says on stderr whether V8 took the command's (a
 * worker's stderr is the pool's); =write (the build) writes them: the command's when it exits, a worker's after
 * each task (src/bundle-host.ts).
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { createRequire } = require('node:module');
const { isMainThread, threadId } = require('node:worker_threads');

/** Runs dist/bundle/<name>.cjs. */
exports.run = (name) => {
  const file = path.join(__dirname, `${name}.cjs`);
  // V8 takes a cache only under the flags it was made with, and a worker process runs with a heap limit of its
  // own (--max-old-space-size, src/pool/pool.ts) while a thread has the command's flags: one cache for each.
  const cacheFile = path.join(__dirname, name === 'cli' ? 'cli.cache' : `${name}.${isMainThread ? 'process' : 'thread'}.cache`);
  const mode = process.env.NANSCAN_CODE_CACHE;

  let cachedData;
  if (mode !== 'off' && mode !== 'write') {
    try {
      cachedData = fs.readFileSync(cacheFile);
    } catch {
      // No cache (a build that could not write it): V8 compiles as usual.
    }
  }
  // Node's module wrapper with two more parameters (src/bundle-host.ts): this file's own import(), for the ES
  // modules left outside the bundle (sharp, h5wasm), and the point where a worker's cache may be written.
  // ASCII (scripts/bundle.mjs): latin1 reads it without UTF-8 decoding.
  const source = fs.readFileSync(file, 'latin1');
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname, __nanscan_import, __nanscan_cache_point) { ${source}\n})`,
    { filename: file, cachedData },
  );
  if (mode === 'status' && name === 'cli') {
    process.stderr.write(`code cache: ${cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used'}\n`);
  }
  let cachePoint;
  if (mode === 'write') {
    // Written whole under another name and renamed: several workers write it at once. A cache that cannot be
    // written is missing, which the build reports; the scan itself goes on.
    const write = () => {
      const part = `${cacheFile}.${process.pid}-${threadId}`;
      try {
        fs.writeFileSync(part, script.createCachedData());
        fs.renameSync(part, cacheFile);
      } catch {
        fs.rmSync(part, { force: true });
      }
    };
    if (name === 'cli') process.once('exit', write);
    else cachePoint = write;
  }
  const bundle = { exports: {} };
  script.runInThisContext()(bundle.exports, createRequire(file), bundle, file, __dirname, (specifier) => import(specifier), cachePoint);
};
