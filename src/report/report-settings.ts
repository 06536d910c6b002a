import type { StageInputs } from '../input-parser.js';

export const REPORT_INPUTS = {
  'upload-sarif': 'true',
  'sarif-category': '',
  'github-token': '',
} as const;
type ReportInput = keyof typeof REPORT_INPUTS;

/** Whether and how the findings go to code scanning. */
export interface ReportSettings {
  readonly uploadSarif: boolean;
  /** The code-scanning category; one per image unless given. */
  readonly sarifCategory: string;
  readonly githubToken: string;
}

export function parseReportSettings(inputs: StageInputs<ReportInput>, image: string): ReportSettings {
  return {
    uploadSarif: inputs.bool('upload-sarif'),
    sarifCategory: inputs.value('sarif-category') || `build-scan-push:${image}`,
    githubToken: inputs.given('github-token'),
  };
}
