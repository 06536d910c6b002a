import { describe, expect, it } from 'vitest';
import type { InputName } from '../../src/inputs.js';
import { InputError } from '../../src/inputs.js';
import { configFrom } from '../helpers/rescan-config.js';

const DIGEST = `sha256:${'c'.repeat(64)}`;

const configFor = configFrom;

/** The InputError message of refused inputs: every problem, one a line. */
function refusal(inputs: Partial<Record<InputName, string>>): string {
  const error = (() => {
    try {
      return configFor(inputs);
    } catch (caught) {
      return caught;
    }
  })();
  expect(error).toBeInstanceOf(InputError);
  return (error as InputError).message;
}

describe('rescan settings', () => {
  it('are off by default', () => {
    expect(configFor({}).rescan).toEqual({ enabled: false, references: [] });
  });

  it('rescan `image` at rescan-ref, a tag or a digest', () => {
    const image = 'ghcr.io/octo-org/app';
    expect(configFor({ image, rescan: 'true', 'rescan-ref': 'latest' }).rescan.references).toEqual([
      `${image}:latest`,
    ]);
    expect(configFor({ image, rescan: 'true', 'rescan-ref': DIGEST }).rescan.references).toEqual([
      `${image}@${DIGEST}`,
    ]);
  });

  it('without rescan-ref, rescan the tags given or computed for the event', () => {
    const image = 'ghcr.io/octo-org/app';
    expect(configFor({ image, rescan: 'true', tags: '1.2.3,1.2' }).rescan.references).toEqual([
      `${image}:1.2.3`,
      `${image}:1.2`,
    ]);
    expect(configFor({ image, rescan: 'true' }).rescan.references).toEqual([
      `${image}:main`,
      `${image}:sha-0123456`,
    ]);
  });

  it('refuse every input a rescan would ignore, and a rescan-ref that is no tag or digest, together', () => {
    const message = refusal({
      rescan: 'true',
      'rescan-ref': 'ghcr.io/octo-org/app:latest',
      tags: 'latest',
      'build-args': 'A=1',
    });
    expect(message).toContain('3 invalid inputs');
    expect(message).toContain('`rescan-ref` "ghcr.io/octo-org/app:latest" is neither a tag nor');
    expect(message).toContain('`rescan`: `build-args` is given, but a rescan builds nothing');
    expect(message).toContain('`rescan`: `tags` is given, but `rescan-ref` names what is rescanned');
  });

  it('refuse rescan-ref without rescan, and a rescan that is not a boolean', () => {
    expect(refusal({ 'rescan-ref': 'latest' })).toContain('`rescan-ref`: is read only with `rescan: true`');
    expect(refusal({ rescan: 'yes' })).toContain('`rescan` "yes" is not a boolean');
  });
});
