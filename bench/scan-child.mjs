// One scan in a fresh process, so peak RSS (which includes the worker threads) belongs to the scan alone.
import { scan } from '../dist/index.js';

const [dir, workers] = process.argv.slice(2);
const t0 = performance.now();
const report = await scan(dir, workers === undefined ? {} : { workers: Number(workers) });
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({
  records: report.summary.records, bytes: report.summary.bytes, ms, kernel: report.kernel,
  findings: report.summary.errors + report.summary.warnings,
  maxRssMiB: process.resourceUsage().maxRSS / 1024,
}));
