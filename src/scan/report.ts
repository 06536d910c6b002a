// The old name of ./trivy-report.ts, kept only for src/scan/trivy.ts, which is renamed on another
// branch; delete this file once that import reads './trivy-report.js'.
export * from './trivy-report.js';
