// One scan in a fresh process. Peak memory is the peak of the summed resident sizes of this process and its
// worker processes, sampled every 20 ms from /proc (rusage gives each process's peak apart, not their sum).
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { scan } from '../dist/index.js';

// As the nanscan command does (src/cli/main.ts): the library leaves V8's flags to its host.
v8.setFlagsFromString('--no-concurrent-recompilation');

const rssKiB = (pid) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
};
const children = () => {
  try {
    return readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
};
let peakKiB = 0;
const sample = () => { peakKiB = Math.max(peakKiB, rssKiB(process.pid) + children().reduce((n, p) => n + rssKiB(p), 0)); };
const timer = setInterval(sample, 20);

const [dir, workers] = process.argv.slice(2);
const t0 = performance.now();
const report = await scan(dir, workers === undefined ? {} : { workers: Number(workers) });
const ms = performance.now() - t0;
clearInterval(timer);
sample();
process.stdout.write(JSON.stringify({
  records: report.summary.records, bytes: report.summary.bytes, ms, kernel: report.kernel,
  findings: report.summary.errors + report.summary.warnings,
  maxRssMiB: Math.max(peakKiB / 1024, process.resourceUsage().maxRSS / 1024),
}));
