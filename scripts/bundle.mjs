/**
 * Bundles the command and its worker entry, as tsc wrote them (dist/cli/main.js, dist/pool/worker.js), into
 * dist/bundle/ with esbuild, and writes their V8 code caches. Start-up is most of a small scan, and every worker
 * thread and process pays its own.
 *
 * - Two CommonJS files, `cli.cjs` and `worker-main.cjs`, each run through V8's code cache by src/bundle/host.cjs,
 *   from the bin `nanscan.cjs` and from the pool's worker entry `worker.cjs`. The caches: `cli.cache`, and for
 *   the worker `worker-main.thread.cache` and `worker-main.process.cache` (V8 takes a cache only under the flags
 *   it was made with: host.cjs). Node 20 caches compiled code only for scripts compiled through `vm.Script` (ES
 *   modules get no code cache before Node 22), so the bundles are CommonJS. They can no longer be split into
 *   chunks by format; the formats a scan does not meet cost only their bytes (V8 compiles a function when it
 *   first runs). Measured on a scan of a 600-record LMDB: 131 → 85 ms (means of 40, `node -e 0` 26 ms); the
 *   same bundle without the cache: 131 ms. `import.meta.url` becomes the bundle's own file URL (package-root.ts
 *   and the worker path find the package's files from it).
 * - The caches are written by scans of the demo datasets and the HDF5 and image fixtures
 *   (NANSCAN_CODE_CACHE=write), so they hold what a scan compiles, not only the top level. Without the fixtures
 *   (a packed package), or if a scan fails, the command runs without them, as fast as it did before them.
 *
 * Packages with native code stay external. The library (`import { scan } from 'nanscan'`, dist/index.js) is not
 * bundled: its host has its own loader and bundler. Run by `npm run build` after tsc.
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'bundle');
// Native addons, and the packages that load them by path at run time.
const external = ['sharp', 'snappy', '@node-rs/crc32', 'h5wasm', 'h5wasm/*'];

rmSync(OUT, { recursive: true, force: true });

for (const [name, entry] of [['cli', 'dist/cli/main.js'], ['worker-main', 'dist/pool/worker.js']]) await build({
  absWorkingDir: ROOT,
  entryPoints: { [name]: entry },
  outdir: OUT,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external,
  define: { 'import.meta.url': '__nanscan_module_url' },
  banner: { js: "const __nanscan_module_url = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: 'linked',
  logLevel: 'warning',
});

// The bundles as ASCII, which host.cjs reads as latin1: one byte a character, no UTF-8 decoding (1.6 MB: ~2.5 ms
// instead of 7-12). esbuild escapes what strings and regular expressions hold beyond ASCII; what is left is in
// comments (§, ±, →), written here as \u escapes, which a comment leaves inert.
for (const name of ['cli', 'worker-main']) {
  const file = join(OUT, `${name}.cjs`);
  const ascii = readFileSync(file, 'utf8').replace(/[\u0080-\u{10ffff}]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
  writeFileSync(file, ascii);
}

for (const f of ['host.cjs', 'nanscan.cjs', 'worker.cjs']) copyFileSync(join(ROOT, 'src', 'bundle', f), join(OUT, f));
const bin = join(OUT, 'nanscan.cjs');
chmodSync(bin, 0o755);

// The caches, from scans of the fixtures (see above). The command's: the bin itself scans them. The workers':
// a scan through the library with the bundled worker as its entry, which sends every source to the workers
// (threads, and processes for images), from this process, whose flags are the command's.
const warm = ['fixtures/demo', 'fixtures/hdf5/plain', 'fixtures/images'].filter((d) => existsSync(join(ROOT, d)));
const caches = ['cli.cache', 'worker-main.thread.cache', 'worker-main.process.cache'].map((f) => join(OUT, f));
if (warm.length > 0) {
  let failed = '';
  const r = spawnSync(process.execPath, [bin, 'scan', '-q', '--no-progress', ...warm], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, NANSCAN_CODE_CACHE: 'write' },
  });
  // 1: the demo has findings on purpose.
  if (r.status !== 0 && r.status !== 1) failed = `the command exited with ${r.status ?? r.signal}: ${r.stderr.trim()}`;
  process.env['NANSCAN_CODE_CACHE'] = 'write';
  try {
    const { scanWith } = await import(pathToFileURL(join(ROOT, 'dist', 'scan.js')).href);
    await scanWith(warm, { cwd: ROOT, workers: 2 }, { workerEntry: pathToFileURL(join(OUT, 'worker.cjs')) });
  } catch (e) {
    failed ||= `the workers' scan failed: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    delete process.env['NANSCAN_CODE_CACHE'];
  }
  if (failed === '' && !caches.every((f) => existsSync(f))) failed = 'a cache was not written';
  if (failed !== '') {
    for (const f of caches) rmSync(f, { force: true });
    console.warn(`bundle: no code cache (${failed}); the command runs without one`);
  }
}
