/** The `nanscan` command: argument parsing, output files, progress and exit codes. Wiring only. */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { applyBaseline, BASELINE_MAX_EXAMPLES, capFindings, createBaseline, loadBaseline, type Baseline } from '../baseline.js';
import { CONFIG_FILE, loadConfig } from '../config.js';
import { ScanError } from '../errors.js';
import { MAX_NUM_CLASSES, type FailOn, type ScanOptions } from '../options.js';
import { checkOutputs, writeOutput } from './outputs.js';
import { progressLine } from './progress.js';
import { hostname } from 'node:os';
import v8 from 'node:v8';
import type { ReportContext } from '../report/context.js';
import { renderJson } from '../report/json.js';
import { renderText } from '../report/text.js';
import { VERSION } from '../report/build.js';
import { scan } from '../scan.js';
import { mergeReports, parseShard } from '../shard.js';
import type { Report } from '../types.js';
import { formatCount } from '../numbers.js';

/**
 * V8's concurrent recompilation off for the isolates this process creates from now on (our worker threads; the
 * main isolate exists already and keeps its setting), so that workers optimise hot functions on their own thread
 * at once instead of queueing them for V8's background compiler, which gets cores − 1 platform threads (one
 * here) and which the busy workers starve. Measured on the 300k-record LMDB with 2 threads: 561 ms with it,
 * 505 ms without (medians of 7). A process-wide flag, so it is set here, in the command's own process, and never
 * by the library (`scan()` in a host process leaves V8 as the host configured it). A
 * --[no-]concurrent-recompilation of the user's own is left alone.
 */
if (![...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)].some((a) => /^--(no-)?concurrent[-_]recompilation$/.test(a))) {
  v8.setFlagsFromString('--no-concurrent-recompilation');
}

/**
 * Exit code when the scanner could not do its job: usage errors, missing paths, no dataset, an output that
 * cannot be written, an internal failure (DESIGN.md, CLI contract).
 */
const EXIT_USAGE = 2;

/** Stack traces of internal failures are printed only with --debug or NANSCAN_DEBUG=1. */
const debugWanted = (argv: readonly string[]): boolean => argv.includes('--debug') || process.env['NANSCAN_DEBUG'] === '1';

interface CliOptions {
  json?: string;
  junit?: string;
  sarif?: string;
  html?: string;
  batchSize: number;
  numClasses?: number;
  workers?: number;
  failOn: 'error' | 'warning' | 'none';
  maxExamples: number;
  limitInputPixels?: number;
  rootFolder?: string;
  writeMean?: string;
  fullDecode?: boolean;
  maxWarnings?: number;
  config?: string;
  baseline?: string;
  writeBaseline?: string;
  shard?: string;
  allowEmpty?: boolean;
  progress: boolean;
  quiet?: boolean;
  color?: boolean;
}

function intArg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER
        ? `Expected an integer >= ${min} for ${name}.`
        : `Expected an integer from ${min} to ${formatCount(max)} for ${name}.`);
    }
    return n;
  };
}

export function createProgram(): Command {
  const program = new Command('nanscan')
    .description('Find what makes training go NaN, before training starts.')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  program
    .command('scan')
    .description('Scan datasets (LMDB, LevelDB, HDF5 files and lists, image folders and lists, or folders holding them) and report what would break training.')
    .argument('<path...>', 'dataset folders or files, or folders to search for datasets')
    .option('--json <file>', "write the JSON report to <file> ('-' for stdout)")
    .option('--junit <file>', 'write a JUnit XML report (GitLab, Jenkins)')
    .option('--sarif <file>', 'write a SARIF 2.1.0 report (GitHub code scanning)')
    .option('--html <file>', 'write a self-contained HTML report')
    .option('--batch-size <n>', 'training batch size, for the label analysis', intArg('--batch-size', 1), 64)
    .option('--num-classes <n>', 'labels must lie in [0, n)', intArg('--num-classes', 1, MAX_NUM_CLASSES))
    .option('--workers <n>', 'workers, one per core by default (0: scan in the main thread)', intArg('--workers', 0))
    .addOption(new Option('--fail-on <level>', 'lowest severity that makes the exit code 1')
      .choices(['error', 'warning', 'none']).default('error'))
    .option('--max-examples <n>', 'findings kept per kind and dataset (counts stay exact)', intArg('--max-examples', 0), 20)
    .option('--limit-input-pixels <n>', 'images declaring more pixels are reported, not decoded', intArg('--limit-input-pixels', 1))
    .option('--max-warnings <n>', 'more warnings than this make the exit code 1', intArg('--max-warnings', 0))
    .option('--config <file>', `config file (default: ${CONFIG_FILE}, or the "nanscan" key of package.json)`)
    .option('--baseline <file>', 'report only findings that are not in this baseline')
    .option('--write-baseline <file>', "record this scan's findings as the baseline")
    .option('--write-mean <file>', 'write the per-pixel mean of the dataset (.binaryproto for Caffe\'s mean_file, or .npy)')
    .option('--full-decode', 'decode every JPEG at full size (default: 1/8 scale unless pixels are needed; same findings, faster)')
    .option('--root-folder <dir>', 'folder that image-list paths are relative to (default: the list file\'s folder)')
    .option('--no-progress', 'no progress display on stderr')
    .option('--no-color', 'no colours in the text report')
    .option('-q, --quiet', 'print no text report (exit code and --json files only)')
    .option('--shard <i/n>', 'scan only shard i of n (1-based); join the shard reports with `nanscan merge`')
    .option('--allow-empty', 'exit 0 when the paths hold no dataset (default: exit 2)')
    .option('--debug', 'print the stack of an internal failure (also NANSCAN_DEBUG=1)')
    .action(async (paths: string[], o: CliOptions, cmd: Command) => {
      // Flags the user typed override the config file; commander's defaults do not.
      const typed = (name: string): boolean => cmd.getOptionValueSource(name) === 'cli';
      process.exitCode = await runScan(paths, o, typed);
    });
  program
    .command('merge')
    .description('Join the JSON reports of `scan --shard i/n` runs into the report of one scan.')
    .argument('<report...>', 'shard reports (JSON), one per shard')
    .option('--json <file>', "write the merged JSON report to <file> ('-' for stdout)")
    .option('--junit <file>', 'write a JUnit XML report')
    .option('--sarif <file>', 'write a SARIF 2.1.0 report')
    .option('--html <file>', 'write a self-contained HTML report')
    .addOption(new Option('--fail-on <level>', 'lowest severity that makes the exit code 1 (default: error, whatever the shards used)')
      .choices(['error', 'warning', 'none']))
    .option('--max-warnings <n>', 'more warnings than this make the exit code 1', intArg('--max-warnings', 0))
    .option('--config <file>', `config file for failOn and maxWarnings (default: ${CONFIG_FILE}, or package.json's "nanscan" key)`)
    .option('--baseline <file>', 'report only findings that are not in this baseline')
    .option('--write-baseline <file>', "record the merged report's findings as the baseline")
    .option('--no-color', 'no colours in the text report')
    .option('-q, --quiet', 'print no text report')
    .option('--debug', 'print the stack of an internal failure (also NANSCAN_DEBUG=1)')
    .action(async (files: string[], o: MergeOptions) => {
      process.exitCode = await runMerge(files, o);
    });
  return program;
}

async function runScan(paths: string[], o: CliOptions, typed: (name: string) => boolean): Promise<number> {
  const showProgress = o.progress && !o.quiet && process.stderr.isTTY === true;
  const config = loadConfig(process.cwd(), o.config)?.options ?? {};
  // Before any work: an output that cannot be written is a usage error, not a surprise after the scan.
  checkOutputs({ '--json': o.json, '--junit': o.junit, '--sarif': o.sarif, '--html': o.html, '--write-baseline': o.writeBaseline, '--write-mean': o.writeMean }, process.cwd());
  const pick = <K extends 'batchSize' | 'failOn' | 'maxExamples'>(k: K, v: ScanOptions[K]): ScanOptions[K] =>
    typed(k) || config[k] === undefined ? v : config[k];
  const maxExamples = pick('maxExamples', o.maxExamples) ?? 20;
  const useBaseline = o.baseline !== undefined || o.writeBaseline !== undefined;
  if (useBaseline && o.shard !== undefined) {
    throw new ScanError('SCAN_INVALID_OPTION', 'Use --baseline/--write-baseline on the merged report (nanscan merge), not with --shard.');
  }
  const options: ScanOptions = {
    ...config,
    batchSize: pick('batchSize', o.batchSize), failOn: pick('failOn', o.failOn),
    // Baselines must see every finding to record or match it; the report is capped afterwards.
    maxExamples: useBaseline ? BASELINE_MAX_EXAMPLES : maxExamples,
    ...(o.maxWarnings !== undefined ? { maxWarnings: o.maxWarnings } : {}),
    ...(o.numClasses !== undefined ? { numClasses: o.numClasses } : {}),
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    ...(o.limitInputPixels !== undefined ? { limitInputPixels: o.limitInputPixels } : {}),
    ...(o.rootFolder !== undefined ? { rootFolder: o.rootFolder } : {}),
    ...(o.writeMean !== undefined ? { writeMean: o.writeMean } : {}),
    ...(o.fullDecode === true ? { fullDecode: true } : {}),
    ...(o.shard !== undefined ? { shard: parseShard(o.shard) } : {}),
    ...(o.allowEmpty === true ? { allowEmpty: true } : {}),
    ...(showProgress ? { onProgress: progressLine() } : {}),
  };
  // Ctrl-C or SIGTERM: stop the workers, still write the reports (marked incomplete), exit 128 + signal.
  // A second Ctrl-C exits at once.
  const controller = new AbortController();
  let signalExit = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalExit !== 0) process.exit(signalExit);
    signalExit = sig === 'SIGINT' ? 130 : 143;
    process.stderr.write(`\nnanscan: ${sig}, stopping; the report will be marked incomplete.\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  options.signal = controller.signal;
  const baseline = o.baseline !== undefined ? loadBaseline(o.baseline) : undefined;
  let report: Report;
  try {
    report = await scan(paths, options);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (showProgress) process.stderr.write('\r\u001b[K');
  }
  // The reports carry the exit code the process ends with: 143 for SIGTERM (the library says 130).
  if (signalExit !== 0) report.exitCode = signalExit === 143 ? 143 : 130;
  gate(report, baseline, o.baseline, o.writeBaseline, report.options.failOn, report.options.maxWarnings);
  if (useBaseline) capFindings(report, maxExamples);
  await writeOutputs(report, o);
  return report.exitCode;
}

/**
 * Applies --baseline and --write-baseline. Writing a baseline accepts today's findings: the run exits 0 (and
 * its reports say so), and a scan against that fresh baseline exits 0 too. An interrupted scan records no
 * baseline: the findings it did not reach would fail the next run.
 */
function gate(
  report: Report, baseline: Baseline | undefined, baselineFile: string | undefined, writeBaselineFile: string | undefined,
  failOn: FailOn, maxWarnings: number | null,
): void {
  // Recorded before --baseline removes the known findings: the new baseline holds every finding of today.
  const recorded = writeBaselineFile !== undefined && report.complete ? createBaseline(report, new Date()) : undefined;
  if (baseline !== undefined) applyBaseline(report, baseline, baselineFile!, failOn, maxWarnings);
  if (writeBaselineFile === undefined) return;
  if (recorded === undefined) {
    process.stderr.write(`nanscan: the scan was interrupted: no baseline written to '${writeBaselineFile}'.\n`);
    return;
  }
  writeOutput('--write-baseline', writeBaselineFile, `${JSON.stringify(recorded, null, 2)}\n`);
  report.exitCode = 0;
}

interface OutputOptions {
  json?: string;
  junit?: string;
  sarif?: string;
  html?: string;
  quiet?: boolean;
  color?: boolean;
}

/**
 * Writes the report files asked for, the text report, and GitHub annotations under GitHub Actions. The renderers
 * of files are imported when asked for: most runs print text only, and start-up is most of a small scan.
 */
async function writeOutputs(report: Report, o: OutputOptions): Promise<void> {
  const ctx: ReportContext = { now: () => new Date(), hostname: hostname(), cwd: process.cwd() };
  if (o.json !== undefined) {
    const json = renderJson(report);
    if (o.json === '-') process.stdout.write(json);
    else writeOutput('--json', o.json, json);
  }
  if (o.junit !== undefined) writeOutput('--junit', o.junit, (await import('../report/junit.js')).renderJunit(report, ctx));
  if (o.sarif !== undefined) writeOutput('--sarif', o.sarif, (await import('../report/sarif.js')).renderSarif(report, ctx));
  if (o.html !== undefined) writeOutput('--html', o.html, (await import('../report/html.js')).renderHtml(report, ctx));
  if (!o.quiet && o.json !== '-') {
    process.stdout.write(renderText(report, {
      color: o.color !== false && process.stdout.isTTY === true,
      ...(process.stdout.columns ? { width: Math.min(process.stdout.columns, 120) } : {}),
    }));
  }
  // GitHub Actions turns these lines into annotations on the run (and the PR, for files in the repository).
  if (process.env.GITHUB_ACTIONS === 'true') process.stdout.write((await import('../report/github.js')).renderGithubAnnotations(report));
}

interface MergeOptions extends OutputOptions {
  failOn?: FailOn;
  maxWarnings?: number;
  config?: string;
  baseline?: string;
  writeBaseline?: string;
}

/**
 * `nanscan merge`: joins shard reports into the report of one scan, and gates on it like `scan` does. The
 * gate options are the merge's own (flags, then the config file, then the defaults), never the shards':
 * shards are scanned with `--fail-on none` so that every shard uploads its report, and the merge decides.
 */
async function runMerge(files: string[], o: MergeOptions): Promise<number> {
  const config = loadConfig(process.cwd(), o.config)?.options ?? {};
  checkOutputs({ '--json': o.json, '--junit': o.junit, '--sarif': o.sarif, '--html': o.html, '--write-baseline': o.writeBaseline }, process.cwd());
  const failOn: FailOn = o.failOn ?? config.failOn ?? 'error';
  const maxWarnings = o.maxWarnings ?? config.maxWarnings ?? null;
  const baseline = o.baseline !== undefined ? loadBaseline(o.baseline) : undefined;
  const reports = files.map((f) => {
    try {
      return JSON.parse(readFileSync(f, 'utf8')) as Report;
    } catch (e) {
      throw new ScanError('SCAN_INVALID_OPTION', `Cannot read report '${f}': ${(e as Error).message}`);
    }
  });
  const report = mergeReports(reports, files, { failOn, maxWarnings });
  gate(report, baseline, o.baseline, o.writeBaseline, failOn, maxWarnings);
  await writeOutputs(report, o);
  return report.exitCode;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end with code 0; every usage error is exit 2.
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    const debug = debugWanted(argv);
    if (e instanceof ScanError && e.code !== 'SCAN_INTERNAL') {
      process.stderr.write(`error: ${e.message}\n`);
      return EXIT_USAGE;
    }
    // A bug or a worker that cannot start: one line naming it; the stack only when asked for.
    const err = e instanceof Error ? e : new Error(String(e));
    const what = e instanceof ScanError ? e.message : `${err.name}: ${err.message}`;
    process.stderr.write(`error: nanscan failed (internal error, not a problem in your data): ${what}` +
      `${debug ? '' : ' (--debug or NANSCAN_DEBUG=1 shows the stack trace; please report it)'}\n`);
    if (debug) {
      const cause = err.cause instanceof Error ? err.cause : undefined;
      const data = e instanceof ScanError ? e.data : undefined;
      // A worker's stack (it threw in a task), or what a worker that could not start wrote, else our own.
      const stack = (typeof data?.['stack'] === 'string' ? data['stack'] : undefined) ??
        (typeof data?.['stderr'] === 'string' ? data['stderr'] : undefined) ?? cause?.stack ?? err.stack ?? '';
      process.stderr.write(`${stack}\n`);
    }
    return EXIT_USAGE;
  }
}

// Not a top-level await: the command is bundled as CommonJS (scripts/bundle.mjs, for V8's code cache).
void main(process.argv).then((code) => {
  process.exitCode = code;
});
