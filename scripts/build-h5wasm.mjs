/**
 * Copies h5wasm's WebAssembly binary out of its JavaScript (Emscripten embeds it there) into
 * build/h5wasm/hdf5_util.wasm, so that src/readers/hdf5/h5.ts can compile it and instantiate it itself through
 * Emscripten's `instantiateWasm` hook: that is how it gets the instance's Memory (to scan the heap in place) and
 * shares the compiled module with worker threads, without touching the host process's WebAssembly object.
 * Only this build process wraps WebAssembly.instantiate, to see the bytes Emscripten compiles.
 *
 * It also writes build/h5wasm/hdf5_util.js: Emscripten's JavaScript with the embedded binary (a 4 MB string
 * literal that the hook makes unused) taken out. Loading the published file costs ~90 ms of a small HDF5 scan
 * (decoding and scanning 4.2 MB of source, measured with --cpu-prof); this one is ~190 KB. Checked here by
 * instantiating it through the hook; written only when that works.
 *
 * Skips the work when both files are newer than h5wasm's module (pass --force to redo it). Never fails the build:
 * without the binary the reader loads h5wasm as published and scans copy out of its heap.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BINARY = join(ROOT, 'build', 'h5wasm', 'hdf5_util.wasm');
export const GLUE = join(ROOT, 'build', 'h5wasm', 'hdf5_util.js');

/** Emscripten's `findWasmBinary(){return binaryDecode('<the binary>')}`: the literal between these. */
const BINARY_START = "function findWasmBinary(){return binaryDecode('";
const BINARY_END = "')}function getBinarySync(";

try {
  const factoryFile = join(dirname(fileURLToPath(import.meta.resolve('h5wasm/node'))), 'hdf5_util.js');
  const fresh = (f) => existsSync(f) && statSync(f).mtimeMs >= statSync(factoryFile).mtimeMs;
  if (!process.argv.includes('--force') && fresh(BINARY) && fresh(GLUE)) process.exit(0);
  let bytes;
  const original = WebAssembly.instantiate;
  WebAssembly.instantiate = function (source, imports) {
    if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
      bytes = Buffer.from(source instanceof ArrayBuffer ? new Uint8Array(source) : new Uint8Array(source.buffer, source.byteOffset, source.byteLength));
    }
    return original.call(this, source, imports);
  };
  await (await import(pathToFileURL(factoryFile).href)).default({ noInitialRun: true });
  if (bytes === undefined || !WebAssembly.validate(bytes)) throw new Error('h5wasm did not instantiate from bytes');
  mkdirSync(dirname(BINARY), { recursive: true });
  writeFileSync(BINARY, bytes);
  console.log(`build-h5wasm: ${BINARY} (${bytes.length} bytes)`);
  await writeGlue(factoryFile, bytes);
} catch (e) {
  console.warn(`build-h5wasm: skipped (${e instanceof Error ? e.message : String(e)}); HDF5 scans will copy rows out of h5wasm's heap`);
}

/** The glue without its embedded binary, when it has the expected shape and instantiates through the hook. */
async function writeGlue(factoryFile, bytes) {
  rmSync(GLUE, { force: true });
  const text = readFileSync(factoryFile, 'latin1');
  const start = text.indexOf(BINARY_START);
  const end = text.indexOf(BINARY_END, start);
  if (start < 0 || end < 0 || text.indexOf(BINARY_START, start + 1) >= 0) {
    console.warn('build-h5wasm: the glue has an unexpected shape; the reader loads it as published');
    return;
  }
  // latin1 both ways: the literal is bytes in a string, the rest is ASCII.
  const stripped = text.slice(0, start + BINARY_START.length) + text.slice(end);
  const candidate = `${GLUE}.tmp.mjs`;
  writeFileSync(candidate, stripped, 'latin1');
  try {
    const module = await WebAssembly.compile(bytes);
    const factory = (await import(pathToFileURL(candidate).href)).default;
    const m = await factory({
      noInitialRun: true,
      instantiateWasm(imports, receive) {
        const instance = new WebAssembly.Instance(module, imports);
        receive(instance, module);
        return instance.exports;
      },
    });
    if (typeof m.FS !== 'object' || typeof m.ccall !== 'function') throw new Error('the stripped glue did not load h5wasm');
    writeFileSync(GLUE, stripped, 'latin1');
    console.log(`build-h5wasm: ${GLUE} (${stripped.length} bytes)`);
  } catch (e) {
    console.warn(`build-h5wasm: stripped glue not written (${e instanceof Error ? e.message : String(e)}); the reader loads it as published`);
  } finally {
    rmSync(candidate, { force: true });
  }
}
