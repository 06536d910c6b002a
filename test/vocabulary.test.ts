import { describe, expect, it } from 'vitest';
import { SEVERITIES_MOST_SEVERE_FIRST, severityOf, severityRank } from '../src/vocabulary.js';

describe('severities', () => {
  it('rank UNKNOWN lowest and CRITICAL highest; the shown order is most severe first', () => {
    expect(severityRank('UNKNOWN')).toBe(0);
    expect(severityRank('CRITICAL')).toBe(4);
    expect(SEVERITIES_MOST_SEVERE_FIRST).toEqual(['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN']);
  });

  it('read Trivy severities in any case; one Trivy does not know is UNKNOWN', () => {
    expect(severityOf('high')).toBe('HIGH');
    expect(severityOf('weird')).toBe('UNKNOWN');
  });
});
