/** Severities: the one table of kinds (src/kinds.ts) decides a kind's default; the host applies it to damage. */
import { DEFAULT_SEVERITY } from '../kinds.js';
import type { Damage } from '../records.js';
import type { Finding } from '../types.js';

export { DEFAULT_SEVERITY };

/** The finding a reader's damage becomes: its kind's severity, a warning for minor damage, an error for damage the loader refuses. */
export function damageFinding(d: Damage): Finding {
  const { minor, loaderFails, severity: _none, ...where } = d;
  const severity = loaderFails === true ? 'error' : minor === true ? 'warning' : DEFAULT_SEVERITY[d.kind];
  return { ...where, severity };
}
