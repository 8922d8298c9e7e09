/**
 * Bundles the command (dist/cli/main.js) and the worker entry (dist/pool/worker.js), as tsc wrote them, into
 * dist/bundle/ with esbuild: `nanscan.js`, `worker.js` and their chunks (two builds, one per entry: a build of
 * both at once splits the shared code finer, 27 files loaded by a small LMDB scan instead of 21, and was no
 * faster). Start-up is most of a small scan, and Node's ESM loader pays per module (resolve, read, parse,
 * link): ~80 modules in dist/ against ~20 files here. Formats and report writers the code imports on demand stay chunks of their own, loaded on demand
 * (code splitting), so a scan of an LMDB never reads the Parquet reader. Packages with native code stay external.
 *
 * The library (`import { scan } from 'nanscan'`, dist/index.js) is not bundled: its host has its own loader
 * and bundler. Run by `npm run build` after tsc.
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'bundle');

rmSync(OUT, { recursive: true, force: true });
for (const [name, entry] of [['nanscan', 'dist/cli/main.js'], ['worker', 'dist/pool/worker.js']]) await build({
  absWorkingDir: ROOT,
  entryPoints: { [name]: entry },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Every file in one folder: modules find the package's files through package-root.ts, at any depth.
  chunkNames: '[name]-[hash]',
  // Native addons, and the packages that load them by path at run time.
  external: ['sharp', 'snappy', '@node-rs/crc32', 'h5wasm', 'h5wasm/*'],
  // CommonJS dependencies (commander) call require() for Node's built-ins; ESM output has no require of its own.
  banner: { js: "import { createRequire as __nanscanRequire } from 'node:module'; const require = __nanscanRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});
