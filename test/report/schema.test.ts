/** The published JSON schema of the report (docs/report.schema.json) describes what nanscan writes. */
import { readFileSync } from 'node:fs';
import Ajv from 'ajv';
import ajvFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { UNCHECKED_REASONS } from '../../src/coverage.js';
import { FINDING_KINDS, type Report } from '../../src/types.js';
import { scanJson } from '../helpers/cli.js';
import { sampleReport } from './sample-report.js';

const schema = JSON.parse(readFileSync(new URL('../../docs/report.schema.json', import.meta.url), 'utf8')) as {
  definitions: Record<string, { enum?: string[]; properties?: Record<string, unknown> }>;
};
const ajv = new Ajv.default({ allErrors: true, strict: true, strictTypes: false });
ajvFormats.default(ajv);
const validate = ajv.compile(schema);

function errorsOf(report: unknown): string {
  return validate(report) ? '' : ajv.errorsText(validate.errors);
}

describe('docs/report.schema.json', () => {
  it('lists every finding kind and every reason for unchecked data, in the table order', () => {
    expect(schema.definitions['kind']!.enum).toEqual([...FINDING_KINDS]);
    const coverage = schema.definitions['coverage']!.properties!['unchecked'] as { items: { properties: { reason: { enum: string[] } } } };
    expect(coverage.items.properties.reason.enum).toEqual(Object.keys(UNCHECKED_REASONS));
  });

  it('accepts the report of a scan of every committed fixture, and of a shard', () => {
    const { report } = scanJson(['fixtures', '--workers', '2']);
    expect(report.datasets.length).toBeGreaterThan(10);
    expect(errorsOf(report)).toBe('');
    const shard = scanJson(['fixtures/lmdb', '--shard', '1/2', '--fail-on', 'none']).report;
    expect(errorsOf(shard)).toBe('');
  });

  it('accepts the reporters\' sample report', () => {
    expect(errorsOf(sampleReport())).toBe('');
  });

  it('rejects what it does not document: an unknown finding field, an unknown kind, a missing coverage', () => {
    const base = sampleReport() as Report;
    const withField = structuredClone(base);
    (withField.datasets[0]!.findings[0] as unknown as Record<string, unknown>)['row'] = 3;
    expect(errorsOf(withField)).toContain('must NOT have additional properties');
    const withKind = structuredClone(base);
    (withKind.datasets[0]!.findings[0] as unknown as Record<string, unknown>)['kind'] = 'nan_value';
    expect(errorsOf(withKind)).toContain('must be equal to one of the allowed values');
    const noCoverage = structuredClone(base);
    delete (noCoverage.datasets[0] as unknown as Record<string, unknown>)['coverage'];
    expect(errorsOf(noCoverage)).toContain("must have required property 'coverage'");
  });
});
