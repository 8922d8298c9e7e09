/** Default severity of each finding kind: the one table of kinds (src/kinds.ts) decides it. */
export { DEFAULT_SEVERITY } from '../kinds.js';
