/** nanscan's public library API: re-exports only. */
export { scan } from './scan.js';
export { VERSION } from './report/build.js';
export { mergeReports, type MergeGate } from './shard.js';
export { ScanError, type ErrorCode } from './errors.js';
export type { ScanOptions, ScanProgress, FailOn } from './options.js';
export { FINDING_KINDS } from './types.js';
export type {
  DatasetReport, Finding, FindingKind, LabelReport, Report, ReportExitCode, ReportOptions, ReportSummary, Severity,
  SkippedPath, ValueStats,
} from './types.js';
export { renderText } from './report/text.js';
export { renderJson } from './report/json.js';
export { renderJunit } from './report/junit.js';
export { renderSarif } from './report/sarif.js';
export { renderHtml } from './report/html.js';
export { renderGithubAnnotations } from './report/github.js';
export type { ReportContext } from './report/context.js';
