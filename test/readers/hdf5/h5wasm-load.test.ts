/**
 * h5wasm is loaded without touching the host process: the global WebAssembly object is never replaced (a host
 * that instantiates wasm at the same time must not be intercepted), and the reader still gets h5wasm's Memory,
 * which lets the scan kernel read rows where they lie in h5wasm's heap.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { H5 } from '../../../src/readers/hdf5/h5.js';
import { ROOT } from '../../helpers/cli.js';

interface WasmApi {
  instantiate(bytes: Uint8Array): Promise<{ instance: { exports: object } }>;
  compile: unknown;
  Instance: unknown;
}
const wasm = (): WasmApi => (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

describe('loading h5wasm', () => {
  it('leaves WebAssembly alone and still finds the heap\'s Memory', async () => {
    const api = wasm();
    const { instantiate, compile, Instance } = api;
    let replaced = false;
    const watch = setInterval(() => { replaced ||= wasm().instantiate !== instantiate || wasm().compile !== compile; }, 0);
    const loading = H5.load();
    // A host instantiating its own module while h5wasm loads gets exactly what it asked for.
    const host = await api.instantiate(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
    const h5 = await loading;
    clearInterval(watch);
    expect(replaced).toBe(false);
    expect(wasm()).toBe(api);
    expect(wasm().Instance).toBe(Instance);
    expect(host.instance.exports).toEqual({});
    const memory = h5.memory;
    expect(memory).toBeDefined();
    expect(memory!.buffer.byteLength).toBeGreaterThan(0);
  });

  it("is loaded from Emscripten's JavaScript without its embedded binary, which is the published file's code", () => {
    const glue = path.join(ROOT, 'build', 'h5wasm', 'hdf5_util.js');
    const published = fileURLToPath(new URL('hdf5_util.js', import.meta.resolve('h5wasm/node')));
    expect(statSync(glue).size).toBeLessThan(statSync(published).size / 10);
    // Everything but the binary's literal is the published code, byte for byte.
    const a = readFileSync(glue, 'latin1');
    const b = readFileSync(published, 'latin1');
    const cut = "function findWasmBinary(){return binaryDecode('";
    const at = a.indexOf(cut) + cut.length;
    expect(a.slice(0, at)).toBe(b.slice(0, at));
    expect(b.endsWith(a.slice(at))).toBe(true);
    expect(a.slice(at, at + 2)).toBe("')");
  });
});
