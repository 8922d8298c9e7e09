/**
 * GitHub Actions workflow-command annotations (`::error file=…,title=…::message`), one line per kept finding, for
 * stdout when GITHUB_ACTIONS=true. GitHub shows them on the run summary and, for files in the repository, in diffs.
 */
import type { Report, Severity } from '../types.js';
import { describeFinding, findingArtifact, remainders } from './context.js';
import { printable } from './xml.js';

export function renderGithubAnnotations(report: Report): string {
  const lines: string[] = [];
  for (const d of report.datasets) {
    for (const f of d.findings) {
      const at = findingArtifact(d, f);
      lines.push(annotation(f.severity, at.path, at.line, `nanscan ${f.kind}`, describeFinding(f)));
    }
    for (const r of remainders(d)) {
      lines.push(annotation(r.severity, d.path, undefined, `nanscan ${r.kind}`,
        `… and ${r.more} more ${r.kind} finding${r.more === 1 ? '' : 's'} in ${d.path} ` +
        `(${r.total} in all; the report keeps ${r.listed}, see --max-examples)`));
    }
  }
  if (!report.complete) {
    lines.push(`::warning title=${escapeProperty('nanscan interrupted')}::` +
      escapeData('The scan was interrupted: the findings cover part of the input.'));
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

function annotation(severity: Severity, file: string, line: number | undefined, title: string, message: string): string {
  const props = [`file=${escapeProperty(file)}`];
  if (line !== undefined) props.push(`line=${line}`);
  props.push(`title=${escapeProperty(title)}`);
  return `::${severity} ${props.join(',')}::${escapeData(message)}`;
}

/**
 * The runner's escaping of command data (as @actions/core does): '%', CR and LF. Other control characters are
 * made visible first, so that a key cannot write terminal escapes into the log.
 */
export function escapeData(s: string): string {
  return printable(s).replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
}

/** Property values also escape ':' and ',', which separate the properties. */
export function escapeProperty(s: string): string {
  return escapeData(s).replaceAll(':', '%3A').replaceAll(',', '%2C');
}
