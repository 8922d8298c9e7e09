/** JSON reporter: the report object as DESIGN.md's contract defines it (schemaVersion 1). */
import type { Report } from '../types.js';

export function renderJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
