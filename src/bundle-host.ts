/**
 * What the command's bundles get from the file that runs them (src/bundle/host.cjs), for the library and for the
 * command alike.
 *
 * The command and its workers run as CommonJS bundles compiled through `vm.Script` with V8's code cache, and the
 * host hands each bundle two functions as extra parameters of the module wrapper. Anywhere else (the library,
 * tests, the unbundled worker) the names are not defined, and `typeof` of an undefined name is 'undefined',
 * never a ReferenceError: the code then does what it always did.
 */
declare const __nanscan_import: ((specifier: string) => Promise<unknown>) | undefined;
declare const __nanscan_cache_point: (() => void) | undefined;

/**
 * `import()` of an ES module that is not bundled (sharp, h5wasm). In Node 20 an `import()` inside a script that
 * came from the code cache fails ("A dynamic import callback was not specified");
 * `vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER` would mend only the uncached case, and prints an
 * ExperimentalWarning on the user's terminal. So the host's own `import` is used: Node's loader, resolving from
 * the bundle's folder.
 */
export async function importEsm<T>(specifier: string): Promise<T> {
  return (typeof __nanscan_import === 'function' ? __nanscan_import(specifier) : import(specifier)) as Promise<T>;
}

/**
 * A point where the code cache holds what a worker compiled so far: a worker calls it after each task. It writes
 * the cache only while the build makes it (NANSCAN_CODE_CACHE=write); a worker is stopped, never exits on its
 * own, so it cannot wait for its exit as the command does.
 */
export function codeCachePoint(): void {
  if (typeof __nanscan_cache_point === 'function') __nanscan_cache_point();
}
