// Runs a reference command (argv) and measures its peak memory as scan-child.mjs does nanscan's: the peak of the
// summed resident sizes of the command and all its descendants (a Python process pool's workers), sampled every
// 20 ms from /proc. Prints {"stdout": …, "maxRssMiB": …}; the command prints its own timing on stdout.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const rssKiB = (pid) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
};
const children = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
};
/** Resident KiB of `pid` and its descendants (threads other than the main one do not have children here). */
const treeKiB = (pid) => rssKiB(pid) + children(pid).reduce((n, c) => n + treeKiB(c), 0);

const [cmd, ...args] = process.argv.slice(2);
const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.setEncoding('utf8').on('data', (s) => { out += s; });
let peakKiB = 0;
const timer = setInterval(() => { peakKiB = Math.max(peakKiB, treeKiB(child.pid)); }, 20);
child.on('close', (code) => {
  clearInterval(timer);
  if (code !== 0) {
    process.stderr.write(`${cmd} exited with ${code}\n`);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify({ stdout: out.trim(), maxRssMiB: peakKiB / 1024 }));
});
