/**
 * Bundles the command and its worker entry, as tsc wrote them (dist/cli/main.js, dist/pool/worker.js), into
 * dist/bundle/ with esbuild, and writes the command's V8 code cache. Start-up is most of a small scan.
 *
 * - The command: one CommonJS file, `cli.cjs`, run by the bin `nanscan.cjs` (src/cli/bin.cjs) through V8's code
 *   cache `cli.cache`. Node 20 caches compiled code only for scripts it compiles through `vm.Script` (ES modules
 *   get no code cache before Node 22), so the command is CommonJS; it can no longer be split into chunks, and the
 *   formats a scan does not meet cost only their bytes (V8 compiles functions when they first run). Measured on a
 *   scan of a 600-record LMDB: 123 → 98 ms (medians of 40, `node -e 0` 26 ms); the same bundle without the cache:
 *   131 ms. `import.meta.url` becomes the bundle's own file URL (package-root.ts and the worker path find the
 *   package's files from it).
 * - The worker entry: ES modules, `worker.js` and its chunks, loaded on demand by format (code splitting), so a
 *   worker of an LMDB scan never reads the Parquet reader. Node's ESM loader pays per module (resolve, read,
 *   parse, link): ~80 modules in dist/ against a handful here.
 * - The cache: written by a scan of the demo datasets and the HDF5 fixture with the bin itself
 *   (NANSCAN_CODE_CACHE=write), so it holds what a scan compiles, not only the top level. Without the demo (a
 *   packed package), or if that scan fails, the command runs without a cache, as fast as before it had one.
 *
 * Packages with native code stay external. The library (`import { scan } from 'nanscan'`, dist/index.js) is not
 * bundled: its host has its own loader and bundler. Run by `npm run build` after tsc.
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'bundle');
// Native addons, and the packages that load them by path at run time.
const external = ['sharp', 'snappy', '@node-rs/crc32', 'h5wasm', 'h5wasm/*'];

rmSync(OUT, { recursive: true, force: true });

await build({
  absWorkingDir: ROOT,
  entryPoints: { cli: 'dist/cli/main.js' },
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

await build({
  absWorkingDir: ROOT,
  entryPoints: { worker: 'dist/pool/worker.js' },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Every file in one folder: modules find the package's files through package-root.ts, at any depth.
  chunkNames: '[name]-[hash]',
  external,
  // CommonJS dependencies call require() for Node's built-ins; ESM output has no require of its own.
  banner: { js: "import { createRequire as __nanscanRequire } from 'node:module'; const require = __nanscanRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});

const bin = join(OUT, 'nanscan.cjs');
copyFileSync(join(ROOT, 'src', 'cli', 'bin.cjs'), bin);
chmodSync(bin, 0o755);

const warm = ['fixtures/demo', 'fixtures/hdf5/plain'].filter((d) => existsSync(join(ROOT, d)));
if (warm.length > 0) {
  const r = spawnSync(process.execPath, [bin, 'scan', '-q', '--no-progress', ...warm], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, NANSCAN_CODE_CACHE: 'write' },
  });
  // 1: the demo has findings on purpose.
  if ((r.status !== 0 && r.status !== 1) || !existsSync(join(OUT, 'cli.cache'))) {
    rmSync(join(OUT, 'cli.cache'), { force: true });
    console.warn(`bundle: no code cache (the scan that writes it exited with ${r.status ?? r.signal}): ${r.stderr.trim()}`);
  }
}
