/**
 * Copies h5wasm's WebAssembly binary out of its JavaScript (Emscripten embeds it there) into
 * build/h5wasm/hdf5_util.wasm, so that src/readers/hdf5/h5.ts can compile it and instantiate it itself through
 * Emscripten's `instantiateWasm` hook: that is how it gets the instance's Memory (to scan the heap in place) and
 * shares the compiled module with worker threads, without touching the host process's WebAssembly object.
 * Only this build process wraps WebAssembly.instantiate, to see the bytes Emscripten compiles.
 * Skips the work when the binary is newer than h5wasm's module (pass --force to redo it). Never fails the build:
 * without the binary the reader loads h5wasm as published and scans copy out of its heap.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BINARY = join(ROOT, 'build', 'h5wasm', 'hdf5_util.wasm');

try {
  const factoryFile = join(dirname(fileURLToPath(import.meta.resolve('h5wasm/node'))), 'hdf5_util.js');
  if (!process.argv.includes('--force') && existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(factoryFile).mtimeMs) {
    process.exit(0);
  }
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
} catch (e) {
  console.warn(`build-h5wasm: skipped (${e instanceof Error ? e.message : String(e)}); HDF5 scans will copy rows out of h5wasm's heap`);
}
