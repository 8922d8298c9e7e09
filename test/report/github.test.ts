/**
 * GitHub annotations: every line parsed back the way the Actions runner parses workflow commands, so that keys
 * with newlines, '%', ',' or ':' can neither break a line nor forge a command.
 */
import { describe, expect, it } from 'vitest';
import { escapeData, escapeProperty, renderGithubAnnotations } from '../../src/report/github.js';
import { printable } from '../../src/report/xml.js';
import { NASTY_KEYS, dataset, finding, keptFindings, report, sampleReport } from './sample-report.js';

interface Command {
  command: string;
  properties: Record<string, string>;
  message: string;
}

/** The runner's reading of `::command k=v,k=v::message` (ActionCommand.TryParse), with its unescaping. */
function parseCommand(line: string): Command | null {
  if (!line.startsWith('::')) return null;
  const end = line.indexOf('::', 2);
  if (end < 0) return null;
  const head = line.slice(2, end);
  const space = head.indexOf(' ');
  const command = space < 0 ? head : head.slice(0, space);
  const properties: Record<string, string> = {};
  if (space >= 0) {
    for (const pair of head.slice(space + 1).split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) properties[pair.slice(0, eq)] = unescapeProperty(pair.slice(eq + 1));
    }
  }
  return { command, properties, message: unescapeData(line.slice(end + 2)) };
}

const unescapeData = (s: string): string => s.replaceAll('%0D', '\r').replaceAll('%0A', '\n').replaceAll('%25', '%');
const unescapeProperty = (s: string): string =>
  s.replaceAll('%0D', '\r').replaceAll('%0A', '\n').replaceAll('%3A', ':').replaceAll('%2C', ',').replaceAll('%25', '%');

describe('renderGithubAnnotations', () => {
  const r = sampleReport();
  const out = renderGithubAnnotations(r);
  const lines = out.trimEnd().split('\n');
  const commands = lines.map(parseCommand);

  it('writes one command per kept finding, plus one per capped kind', () => {
    expect(out.endsWith('\n')).toBe(true);
    expect(lines).toHaveLength(keptFindings(r).length + 1);
    for (const c of commands) {
      expect(c).not.toBeNull();
      expect(['error', 'warning']).toContain(c!.command);
      expect(c!.properties.title).toMatch(/^nanscan [a-z0-9_]+$/);
    }
    expect(lines[0]).toBe('::error file=data/train_lmdb,title=nanscan nan::key a\\u0000b, index 0: 2 NaN in float_data, first at element 0.');
  });

  it('matches severity, file and line to each finding', () => {
    const kept = keptFindings(r);
    let i = 0;
    for (const d of r.datasets) {
      for (const f of d.findings) {
        const c = commands[i++]!;
        expect(c.command).toBe(f.severity);
        expect(c.properties.title).toBe(`nanscan ${f.kind}`);
        expect(c.properties.file).toBe(f.line !== undefined ? d.path : f.file ?? d.path);
        expect(c.properties.line).toBe(f.line === undefined ? undefined : String(f.line));
      }
      if (d.path === 'data/train_lmdb') {
        const more = commands[i++]!;
        expect(more.message).toBe('… and 15 more nan findings in data/train_lmdb (25 in all; the report keeps 10, see --max-examples)');
      }
    }
    expect(i).toBe(kept.length + 1);
  });

  it('keeps a key with CR/LF on one line, so it cannot start a command of its own', () => {
    const injected = commands.find((c) => c!.message.includes('line1'))!;
    expect(injected.message).toBe(`key ${NASTY_KEYS.newline}, index 4: 2 NaN in float_data, first at element 4.`);
    expect(lines.filter((l) => l.includes('injected'))).toHaveLength(1);
    expect(lines.every((l) => l.startsWith('::error ') || l.startsWith('::warning '))).toBe(true);
  });

  it('round-trips every message and property through the runner\'s unescaping', () => {
    for (const [i, { f }] of keptFindings(r).entries()) {
      const c = commands[i >= 13 ? i + 1 : i]!; // after the 13 findings of data/train_lmdb comes its capped-kind line
      expect(c.message.endsWith(printable(f.message))).toBe(true);
    }
    const list = commands.filter((c) => c!.properties.file === 'data/val list #1.txt');
    expect(list.map((c) => c!.message)).toContain('file images/gone,now:here.png, line 7, index 6: No such file.');
    expect(list.map((c) => c!.message)).toContain('file images/a b%.jpg, line 3, index 2: Not a JPEG: bad magic bytes.');
  });

  it('escapes ":" and "," in properties, and "%" first', () => {
    const d = dataset('d/a,b:c%2C.h5', [finding('nan', { key: 'k' })]);
    const line = renderGithubAnnotations(report([d])).trimEnd();
    expect(line).toBe('::error file=d/a%2Cb%3Ac%252C.h5,title=nanscan nan::key k: nan found.');
    expect(parseCommand(line)!.properties.file).toBe('d/a,b:c%2C.h5');
    expect(escapeProperty('a:b,c%d\r\n')).toBe('a%3Ab%2Cc%25d%0D%0A');
    expect(escapeData('a:b,c%d\r\n')).toBe('a:b,c%25d%0D%0A');
  });

  it('makes terminal escape sequences visible rather than writing them to the log', () => {
    expect(out).not.toMatch(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/);
    expect(out).toContain('key x\\u001B[31mred');
  });

  it('ends with a warning when the scan was interrupted', () => {
    const partial = renderGithubAnnotations({ ...r, complete: false }).trimEnd().split('\n');
    expect(partial.at(-1)).toBe('::warning title=nanscan interrupted::The scan was interrupted: the findings cover part of the input.');
    expect(partial).toHaveLength(lines.length + 1);
  });

  it('writes nothing for a clean report', () => {
    expect(renderGithubAnnotations(report([dataset('clean', [])]))).toBe('');
    expect(renderGithubAnnotations(report([]))).toBe('');
  });
});
