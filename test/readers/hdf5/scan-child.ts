/**
 * Child process for the stderr test: scans each HDF5 source given on the command line with the reader (open,
 * info, plan, read everything) and prints one JSON summary on stdout. Its stderr must stay empty.
 */
import path from 'node:path';
import { createHdf5Reader } from '../../../src/readers/hdf5/index.js';
import type { RecordBatch } from '../../../src/readers/types.js';
import type { Finding } from '../../../src/types.js';
import { damageFinding } from '../../../src/checks/severity.js';

const module = createHdf5Reader({ slabBytes: 4096, minPartitionBytes: 0 });
const out: { source: string; findings: Finding[]; damage: Finding[]; rows: number; error?: string }[] = [];
for (const source of process.argv.slice(2)) {
  const entry: (typeof out)[number] = { source, findings: [], damage: [], rows: 0 };
  out.push(entry);
  try {
    const reader = await module.open({ format: 'hdf5', path: source, absPath: path.resolve(source) });
    entry.findings = reader.info().findings.map(damageFinding);
    for (const part of reader.plan(3)) {
      for await (const batch of reader.read(part) as AsyncIterable<RecordBatch>) {
        entry.damage.push(...(batch.damage ?? []).map(damageFinding));
        for (const r of batch.records) if (r.kind === 'rows') entry.rows += r.rows;
      }
    }
    reader.close();
  } catch (e) {
    entry.error = (e as Error).message;
  }
}
process.stdout.write(JSON.stringify(out));
