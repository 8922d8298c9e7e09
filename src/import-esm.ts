/**
 * `import()` of an ES module that is not bundled (sharp, h5wasm), for the library and for the command alike.
 *
 * The command runs as a CommonJS bundle compiled through `vm.Script` with V8's code cache (src/cli/bin.cjs),
 * and in Node 20 an `import()` inside such a script fails ("A dynamic import callback was not specified") once
 * the script comes from the cache; `vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER` would mend only the uncached
 * case, and prints an ExperimentalWarning to the user's terminal. So the bin hands the bundle its own `import`
 * as the module wrapper's extra parameter `__nanscan_import`, and this module uses it when it is there: Node's
 * loader, resolving from the bundle's folder. Anywhere else (the library, tests) the name is not defined, and
 * `typeof` of an undefined name is 'undefined', never a ReferenceError.
 */
declare const __nanscan_import: ((specifier: string) => Promise<unknown>) | undefined;

export async function importEsm<T>(specifier: string): Promise<T> {
  return (typeof __nanscan_import === 'function' ? __nanscan_import(specifier) : import(specifier)) as Promise<T>;
}
