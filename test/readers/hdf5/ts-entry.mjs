/**
 * Runs a TypeScript file (argv[2]) with tsx, after loading h5wasm natively. tsx would otherwise transform
 * h5wasm's 4 MB Emscripten module on import: 2 s and 640 MB of RSS per process (measured), which would slow the
 * child-process tests and falsify the benchmark's memory figures. Modules already loaded skip tsx's hooks.
 *
 * usage: node test/readers/hdf5/ts-entry.mjs FILE.ts [args...]
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

await import('h5wasm/node');
const { register } = await import('tsx/esm/api');
register();
const [, , file, ...rest] = process.argv;
process.argv = [process.argv[0], path.resolve(file), ...rest];
await import(pathToFileURL(path.resolve(file)).href);
