/** The progress line on stderr (a terminal only): records read, rate, and with a known total, percent and ETA. */
import type { ScanProgress } from '../options.js';
import { formatCount } from '../numbers.js';

/** "[1/2] data/train_lmdb: 12,000 records 40% (3,100/s, ETA 8 s)". `elapsedMs`: since the scan started. */
export function formatProgress(p: ScanProgress, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? p.records / (elapsedMs / 1000) : 0;
  const total = p.expectedRecords;
  const known = total !== null && total > 0;
  const pct = known ? ` ${Math.min(100, Math.floor((100 * p.records) / total)).toFixed(0)}%` : '';
  const eta = known && rate > 0 ? `, ETA ${duration(Math.max(0, total - p.records) / rate)}` : '';
  return `[${p.datasetsDone}/${p.datasets}] ${p.dataset}: ${formatCount(p.records)} records` +
    `${pct} (${formatCount(Math.round(rate))}/s${eta})`;
}

/** 8 s, 2 min 5 s, 1 h 20 min. */
export function duration(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** A one-line progress display, redrawn at most 10 times a second. */
export function progressLine(write: (s: string) => void = (s) => process.stderr.write(s)): (p: ScanProgress) => void {
  const t0 = performance.now();
  let last = 0;
  return (p) => {
    const now = performance.now();
    if (now - last < 100) return;
    last = now;
    write(`\r\u001b[K${formatProgress(p, now - t0)}`);
  };
}
