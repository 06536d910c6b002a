import { describe, expect, it } from 'vitest';
import { TRIVY_DEFAULT, normalizeVersion, refusedTrivyVersion } from '../../src/tools/releases.js';

describe('normalizeVersion', () => {
  it.each([
    ['v0.74.0', '0.74.0'],
    ['0.75.0-rc.1', '0.75.0-rc.1'],
    ['v0.22.0-beta.2', '0.22.0-beta.2'],
    ['1.0.0-0.3.7', '1.0.0-0.3.7'],
    ['1.0.0-x-y.7z.92', '1.0.0-x-y.7z.92'],
  ])('%s → %s', (value, normalized) => {
    expect(normalizeVersion(value)).toBe(normalized);
  });

  it.each([
    'latest',
    '0.75',
    '0.75.0.1',
    '../0.75.0',
    '0.75.0/..',
    '0. 75.0',
    '0.75.0-',
    '0.75.0-rc..1',
    '0.75.0-rc.01',
    '0.75.0-rc_1',
    '0.75.0+build.1',
    'v0.75.0-rc.1+b',
  ])('refuses %j', (value) => {
    expect(normalizeVersion(value)).toBeUndefined();
  });
});

describe('refusedTrivyVersion', () => {
  it.each([
    ['0.69.1', /releases before v0\.69\.2 were deleted/],
    ['0.50.0-rc.1', /releases before v0\.69\.2 were deleted/],
    // Semver precedence puts 0.69.2-rc.1 before 0.69.2, among the deleted releases.
    ['0.69.2-rc.1', /releases before v0\.69\.2 were deleted/],
    ['0.69.4', /v0\.69\.4 was a malicious release/],
    [
      '0.69.4-rc.1',
      /v0\.69\.4 was a malicious release.* 0\.69\.4-rc\.1 is a pre-release of v0\.69\.4, which the same compromised release pipeline would have published/,
    ],
    ['0.69.5', /v0\.69\.5 and v0\.69\.6 were malicious images/],
    ['0.69.5-rc.1', /malicious images.*pre-release of v0\.69\.5/],
    ['0.69.6-beta', /malicious images.*pre-release of v0\.69\.6/],
    ['latest', /not a version/],
  ])('refuses %s, saying why', (version, reason) => {
    const refusal = refusedTrivyVersion(version);
    expect(refusal).toMatch(reason);
    expect(refusal).toMatch(new RegExp(`^Trivy ${version.replace(/\./g, '\\.')} is refused: `));
  });

  it.each(['0.69.2', '0.69.3', '0.69.3-rc.1', '0.69.7-rc.1', '0.70.0', TRIVY_DEFAULT.version, '0.75.0-rc.1'])(
    'allows %s',
    (version) => {
      expect(refusedTrivyVersion(version)).toBeUndefined();
    },
  );
});
