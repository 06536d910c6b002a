import type { Policy } from '../../src/gate/policy.js';

export const POLICY_NOW = new Date('2026-11-24T20:00:00Z');

/** The action's default policy at a fixed time, with overrides. */
export const policy = (overrides: Partial<Policy> = {}): Policy => ({
  failOn: ['CRITICAL', 'HIGH'],
  severity: ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'],
  ignoreUnfixed: false,
  scanners: ['vuln', 'secret'],
  ignores: [],
  now: POLICY_NOW,
  ...overrides,
});
