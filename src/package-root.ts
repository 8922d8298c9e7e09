/**
 * Files shipped beside the code (package.json, build/, native/, dist/pool/worker.js), found from this module's
 * own location: the first folder up whose package.json is nanscan's. The code runs from src/ (tests), dist/
 * (tsc's output, the library) and dist/bundle/ (the command, scripts/bundle.mjs), at different depths, so a
 * fixed relative path would hold in one layout only.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface PackageJson {
  name?: unknown;
  version?: unknown;
}

function findRoot(): { root: URL; version: string } {
  let dir = new URL('./', import.meta.url);
  for (;;) {
    let pkg: PackageJson | undefined;
    try {
      pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as PackageJson;
    } catch {
      // No package.json here, or not JSON: look further up.
    }
    if (pkg?.name === 'nanscan' && typeof pkg.version === 'string') return { root: dir, version: pkg.version };
    const up = new URL('../', dir);
    if (up.href === dir.href) throw new Error(`nanscan: no package.json of nanscan above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

const found = findRoot();

/** nanscan's version, from its package.json. */
export const PACKAGE_VERSION: string = found.version;

/** The URL of a file of the package, from a path relative to its root (`build/h5wasm/hdf5_util.js`). */
export function packageFile(relative: string): URL {
  return new URL(relative, found.root);
}
