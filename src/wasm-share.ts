/**
 * Compiled WebAssembly modules shared between the main thread and worker threads. A module compiled once and
 * posted to a thread is not compiled again there, and V8 keeps one copy of its code, optimised tiers included,
 * for all of them. For h5wasm (4 MB of wasm) the 2 GiB HDF5 bench went from 2.24 to 2.34 GB/s (medians of 6,
 * two threads). Producers (hdf5/h5.ts) register what they compiled; the pool forwards the registry to its
 * threads with their next task; consumers look a name up before compiling. The values are WebAssembly.Module
 * objects, structured-cloneable between threads only (never sent to worker processes).
 */
const modules = new Map<string, object>();

/** Notes a compiled module under `name` (the first one stays). */
export function shareModule(name: string, module: object): void {
  if (!modules.has(name)) modules.set(name, module);
}

/** A module compiled elsewhere, if one was shared under `name`. */
export function sharedModule(name: string): object | undefined {
  return modules.get(name);
}

/** Every shared module, for a worker thread. */
export function sharedModules(): Record<string, object> {
  return Object.fromEntries(modules);
}

/** How many modules are shared (the pool sends them again when this grows). */
export function sharedModuleCount(): number {
  return modules.size;
}

/** Takes the modules a parent thread shared. */
export function receiveModules(received: Record<string, object>): void {
  for (const [name, m] of Object.entries(received)) shareModule(name, m);
}
