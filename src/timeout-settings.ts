import type { StageInputs } from './input-parser.js';
import { listInput } from './input-parser.js';

/** The stages whose tool processes run under a time limit. */
export const TIMED_STAGES = ['install', 'build', 'scan', 'push'] as const;
export type TimedStage = (typeof TIMED_STAGES)[number];

/**
 * Generous against the slowest normal run of each stage (a large build, a first DB download, a
 * slow registry), short against the job's own 6 hours a hung tool would otherwise take.
 */
export const TIMEOUT_INPUTS = {
  timeouts: 'install=10m, build=60m, scan=20m, push=10m',
} as const;
type TimeoutInput = keyof typeof TIMEOUT_INPUTS;

/** How long one tool process of a stage may run, and the stage, which the message names. */
export interface TimeLimit {
  readonly stage: TimedStage;
  readonly ms: number;
}

export type TimeoutSettings = Readonly<Record<TimedStage, TimeLimit>>;

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000 } as const;
/** The longest a job may run (a self-hosted runner's 5 days); setTimeout also overflows past 24.8 days. */
const MAX_MS = 5 * 24 * UNIT_MS.h;

/**
 * `timeouts`: `stage=duration` pairs separated by commas or lines; a stage not named keeps its
 * default. Every bad pair is a problem of its own.
 */
export function parseTimeoutSettings(inputs: StageInputs<TimeoutInput>): TimeoutSettings {
  const limits = new Map(
    parsePairs(TIMEOUT_INPUTS.timeouts).map(([stage, text]) => [stage, durationMs(text)!]),
  );
  const named = new Set<string>();
  for (const [stage, text] of parsePairs(inputs.given('timeouts'))) {
    const pair = `${stage}=${text}`;
    if (!(TIMED_STAGES as readonly string[]).includes(stage))
      inputs.problem('timeouts', pair, `names no stage: use ${TIMED_STAGES.join(', ')}`);
    else if (named.has(stage)) inputs.problem('timeouts', pair, `names ${stage} a second time`);
    const ms = durationMs(text);
    if (ms === undefined)
      inputs.problem(
        'timeouts',
        pair,
        'has no duration: use whole seconds, minutes or hours, e.g. 90s, 20m, 2h',
      );
    else if (ms === 0 || ms > MAX_MS)
      inputs.problem('timeouts', pair, 'is out of range: give more than 0 and at most 120h (5 days)');
    else limits.set(stage, ms);
    named.add(stage);
  }
  return Object.fromEntries(
    TIMED_STAGES.map((stage) => [stage, { stage, ms: limits.get(stage)! }]),
  ) as Record<TimedStage, TimeLimit>;
}

/** `stage=duration` items as [stage, duration]; an item without `=` has an empty duration. */
function parsePairs(value: string): [string, string][] {
  return listInput(value, { commas: true }).map((item) => {
    const [stage = '', ...rest] = item.split('=');
    return [stage.trim().toLowerCase(), rest.join('=').trim()];
  });
}

function durationMs(text: string): number | undefined {
  const match = /^(\d{1,9})(s|m|h)$/.exec(text);
  return match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : undefined;
}

/** A limit as a person reads it: `10 min`, `90 s`, `2 h`. */
export function formatDuration(ms: number): string {
  if (ms % UNIT_MS.h === 0) return `${ms / UNIT_MS.h} h`;
  if (ms % UNIT_MS.m === 0) return `${ms / UNIT_MS.m} min`;
  if (ms % UNIT_MS.s === 0) return `${ms / UNIT_MS.s} s`;
  return `${ms} ms`;
}
