import { describe, expect, it } from 'vitest';
import { LAUNCH_CONTROL_FILES, LAUNCH_SCRIPT } from '../../src/build/sandbox.js';

describe('sandbox launch script', () => {
  it('is the shell file, loaded as text', () => {
    expect(LAUNCH_SCRIPT.startsWith('#!/bin/sh\n')).toBe(true);
    expect(LAUNCH_SCRIPT).toContain('runc --root "$sb_runc_root"');
    expect(LAUNCH_SCRIPT).not.toContain('${');
  });

  it('writes each control file under the name the action reads', () => {
    for (const name of LAUNCH_CONTROL_FILES) expect(LAUNCH_SCRIPT).toContain(`"$sb_control/${name}"`);
  });
});
